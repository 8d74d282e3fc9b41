-- solomo_member_request_opening: what every member-token request function (solomo_checkin_request,
-- solomo_claim_request) does before its work, in its transaction:
--   1. the member exists in the brand (not merged, not erased) and the token's version is the member's current one,
--      under the member row's lock (which serialises one member's requests): else {"status": "token_revoked"},
--      nothing charged;
--   2. one request charged to the member's request budget (solomo_charge_budget): else {"status":
--      "budget_exhausted", "budget_level": …};
--   3. with an Idempotency-Key, solomo_idempotent_replay: a replay, a key in use or a key reused, answered as is.
-- Answers {"budget_charged": level} when the work may go ahead (the caller adds it to its own answer), otherwise
-- the answer to give, carrying "budget_charged" once the budget was charged.
CREATE OR REPLACE FUNCTION solomo_member_request_opening(
    p_brand uuid, p_member uuid, p_token_version integer, p_burst integer, p_rate double precision,
    p_idempotency_key text, p_fingerprint bytea
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_version integer;
    v_budget record;
    v_charged jsonb;
    v_replay jsonb;
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
    v_charged := jsonb_build_object('budget_charged', v_budget.charged);
    IF p_idempotency_key IS NOT NULL THEN
        v_replay := solomo_idempotent_replay(p_brand, p_member::text, 'POST', p_idempotency_key, p_fingerprint);
    END IF;
    RETURN coalesce(v_replay, '{}'::jsonb) || v_charged;
END;
$$;
