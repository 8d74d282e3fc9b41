-- solomo_claim_request: the whole of POST /v1/offers/{id}/claims in one statement, run in autocommit (it commits as
-- it returns; the app answers after). The app has checked the member token's signature, expiry and audience, the
-- body and the Idempotency-Key's form (solomo/coupons/claim_request.py); this function does the rest:
--   1-3. solomo_member_request_opening (solomo/hot/sql/member_request_opening.sql): the token's version under the
--      member row's lock, the request budget, an Idempotency-Key replay; each refusal or replay answered as it says;
--   4. the claim (solomo_claim_offer, solomo/coupons/sql/claim_offer.sql). Some of its refusals come after it
--      wrote (a grant spent, a member counter moved, then a limit reached): it runs in a block whose
--      subtransaction is rolled back for any answer but "claimed", so a refusal keeps nothing, while the budget
--      charge above stands. A claim's answer is kept under the Idempotency-Key, and one webhook
--      outbox row reports it.
-- Every answer carries "budget_charged". p_brand comes first and only the brand's rows are touched.
CREATE OR REPLACE FUNCTION solomo_claim_request(
    p_brand uuid, p_member uuid, p_token_version integer, p_burst integer, p_rate double precision,
    p_idempotency_key text, p_fingerprint bytea,
    p_offer uuid, p_share_code text, p_code text
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
-- Generic plans for every statement this call runs, nested functions included. Left to choose, the plan cache
-- estimates the check-in's generic plans costlier than custom ones and plans those statements afresh on every
-- call: about a quarter of the database's CPU per check-in (bench/README.md, "Generic plans").
-- tests/test_checkins.py checks that the fence lookup's generic plan keeps the GiST index.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_opening jsonb;
    v_answer jsonb;
BEGIN
    v_opening := solomo_member_request_opening(p_brand, p_member, p_token_version, p_burst, p_rate,
                                               p_idempotency_key, p_fingerprint);
    IF v_opening ? 'status' THEN
        RETURN v_opening;  -- refused, or answered from the Idempotency-Key
    END IF;
    BEGIN
        v_answer := solomo_claim_offer(p_brand, p_member, p_offer, p_share_code, p_code);
        IF v_answer->>'status' <> 'claimed' THEN
            RAISE EXCEPTION USING ERRCODE = 'SLR01', MESSAGE = v_answer::text;  -- undo what the refusal wrote
        END IF;
    EXCEPTION WHEN SQLSTATE 'SLR01' THEN
        v_answer := SQLERRM::jsonb;
    END;
    IF v_answer->>'status' <> 'claimed' THEN
        RETURN v_answer || v_opening;
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        PERFORM solomo_idempotent_save(p_brand, p_member::text, 'POST', p_idempotency_key, p_fingerprint, 201,
                                       convert_to(v_answer::text, 'UTF8'));
    END IF;
    -- The webhook outbox (solomo/webhooks/sql/webhook_enqueue.sql) gets the coupon without its code: the code
    -- is the member's to show at the till, and no webhook needs it.
    PERFORM solomo_webhook_enqueue(p_brand, 'claim', p_member,
                                   jsonb_build_object('coupon', (v_answer->'coupon') - 'code'));
    RETURN v_answer || v_opening;
END;
$$;
