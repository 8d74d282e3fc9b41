-- solomo_checkin_request: the whole of POST /v1/checkins in one statement, so the API sends PostgreSQL nothing
-- else (no authentication query, no BEGIN, no COMMIT): run in autocommit, it commits as it returns, and the app
-- answers only after that. The app has already checked the member token's signature, expiry and audience, the
-- body and the Idempotency-Key's form (solomo/checkins/controllers.py); this function does what needs the data:
--   1. the member exists in the brand (not merged, not erased) and the token's version is the member's current
--      one, under the member row's lock (which solomo_record_check_in takes anyway): else {"status":
--      "token_revoked"}, nothing charged;
--   2. one request charged to the member's request budget (solomo_charge_budget): else {"status":
--      "budget_exhausted", "budget_level": …};
--   3. with an Idempotency-Key, solomo_idempotent_replay: a replay, a key in use or reused is answered as is;
--   4. the check-in (solomo_record_check_in, solomo/checkins/sql/record_check_in.sql), whose answer is kept under
--      the Idempotency-Key when it recorded one (refusals write nothing and keep nothing).
-- Every answer carries "budget_charged", the budget level after this request (for the RateLimit headers).
-- p_brand comes first and only the brand's rows are touched, so the call can run whole on the brand's shard.
CREATE OR REPLACE FUNCTION solomo_checkin_request(
    p_brand uuid, p_member uuid, p_token_version integer, p_burst integer, p_rate double precision,
    p_idempotency_key text, p_fingerprint bytea,
    p_lon double precision, p_lat double precision, p_accuracy double precision, p_recorded_at timestamptz,
    p_mocked boolean, p_source text
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
        v_answer := solomo_record_check_in(p_brand, p_member, p_lon, p_lat, p_accuracy, p_recorded_at, p_mocked,
                                           p_source);
        IF p_idempotency_key IS NOT NULL AND v_answer->>'status' = 'recorded' THEN
            PERFORM solomo_idempotent_save(p_brand, p_member::text, 'POST', p_idempotency_key, p_fingerprint, 201,
                                           convert_to(v_answer::text, 'UTF8'));
        END IF;
    END IF;
    RETURN v_answer || jsonb_build_object('budget_charged', v_budget.charged);
END;
$$;
