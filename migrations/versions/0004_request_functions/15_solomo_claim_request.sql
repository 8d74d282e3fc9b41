-- solomo_claim_request: the whole of POST /v1/offers/{id}/claims in one statement, run in autocommit (it commits as
-- it returns; the app answers after). The app has checked the member token's signature, expiry and audience, the
-- body and the Idempotency-Key's form (solomo/coupons/claim_request.py); this function does the rest:
--   1. the member exists in the brand and the token's version is current, under the member row's lock: else
--      {"status": "token_revoked"}, nothing charged;
--   2. one request charged to the member's request budget (solomo_charge_budget): else "budget_exhausted";
--   3. with an Idempotency-Key, solomo_idempotent_replay answers a replay, a key in use or a key reused;
--   4. the claim (solomo_claim_offer, solomo/coupons/sql/claim_offer.sql). Some of its refusals come after it
--      wrote (a grant spent, a member counter moved, then a limit reached): it runs in a block whose
--      subtransaction is rolled back for any answer but "claimed", so a refusal keeps nothing, while the budget
--      charge above stands. A claim's answer is kept under the Idempotency-Key.
-- Every answer carries "budget_charged". p_brand comes first and only the brand's rows are touched.
CREATE OR REPLACE FUNCTION solomo_claim_request(
    p_brand uuid, p_member uuid, p_token_version integer, p_burst integer, p_rate double precision,
    p_idempotency_key text, p_fingerprint bytea,
    p_offer uuid, p_share_code text, p_code text
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_version integer;
    v_budget record;
    v_answer jsonb;
BEGIN
    SELECT m.token_version INTO v_version
      FROM members m
     WHERE m.id = p_member AND m.brand_id = p_brand AND m.merged_into_id IS NULL AND m.erased_at IS NULL
       FOR UPDATE;
    IF v_version IS DISTINCT FROM p_token_version THEN
        RETURN jsonb_build_object('status', 'token_revoked');
    END IF;
    SELECT * INTO v_budget FROM solomo_charge_budget(p_brand, 'member:' || p_member, p_burst, p_rate, false);
    IF v_budget.charged IS NULL THEN
        RETURN jsonb_build_object('status', 'budget_exhausted', 'budget_level', v_budget.level);
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        v_answer := solomo_idempotent_replay(p_brand, p_member::text, 'POST', p_idempotency_key, p_fingerprint);
    END IF;
    IF v_answer IS NULL THEN
        BEGIN
            v_answer := solomo_claim_offer(p_brand, p_member, p_offer, p_share_code, p_code);
            IF v_answer->>'status' <> 'claimed' THEN
                RAISE EXCEPTION USING ERRCODE = 'SLR01', MESSAGE = v_answer::text;  -- undo what the refusal wrote
            END IF;
        EXCEPTION WHEN SQLSTATE 'SLR01' THEN
            v_answer := SQLERRM::jsonb;
        END;
        IF p_idempotency_key IS NOT NULL AND v_answer->>'status' = 'claimed' THEN
            PERFORM solomo_idempotent_save(p_brand, p_member::text, 'POST', p_idempotency_key, p_fingerprint, 201,
                                           convert_to(v_answer::text, 'UTF8'));
        END IF;
    END IF;
    RETURN v_answer || jsonb_build_object('budget_charged', v_budget.charged);
END;
$$;
