-- solomo_checkin_request: the whole of POST /v1/checkins in one statement, so the API sends PostgreSQL nothing
-- else (no authentication query, no BEGIN, no COMMIT): run in autocommit, it commits as it returns, and the app
-- answers only after that. The app has already checked the member token's signature, expiry and audience, the
-- body and the Idempotency-Key's form (solomo/checkins/request.py); this function does what needs the data:
--   1-3. solomo_member_request_opening (solomo/hot/sql/member_request_opening.sql): the token's version under the
--      member row's lock (which solomo_record_check_in takes anyway), the request budget, an Idempotency-Key
--      replay; each refusal or replay is answered as it says;
--   4. the check-in (solomo_record_check_in, solomo/checkins/sql/record_check_in.sql), whose answer is kept under
--      the Idempotency-Key when it recorded one (refusals write nothing and keep nothing);
--   5. one webhook outbox row (solomo_webhook_enqueue, solomo/webhooks/sql/webhook_enqueue.sql) when the
--      check-in fired something a webhook reports (an enter, dwell or exit, or an offer granted).
-- Every answer carries "budget_charged", the budget level after this request (for the RateLimit headers).
-- p_brand comes first and only the brand's rows are touched, so the call can run whole on the brand's shard.
CREATE OR REPLACE FUNCTION solomo_checkin_request(
    p_brand uuid, p_member uuid, p_token_version integer, p_burst integer, p_rate double precision,
    p_idempotency_key text, p_fingerprint bytea,
    p_lon double precision, p_lat double precision, p_accuracy double precision, p_recorded_at timestamptz,
    p_mocked boolean, p_source text
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
    v_answer := solomo_record_check_in(p_brand, p_member, p_lon, p_lat, p_accuracy, p_recorded_at, p_mocked,
                                       p_source);
    IF v_answer->>'status' <> 'recorded' THEN
        RETURN v_answer || v_opening;
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        PERFORM solomo_idempotent_save(p_brand, p_member::text, 'POST', p_idempotency_key, p_fingerprint, 201,
                                       convert_to(v_answer::text, 'UTF8'));
    END IF;
    IF v_answer->'exits' <> '[]' OR v_answer->'offers' <> '[]'
       OR jsonb_path_exists(v_answer->'matches', '$[*] ? (@.event != null)') THEN
        PERFORM solomo_webhook_enqueue(p_brand, 'checkin', p_member,
            v_answer - 'status' || jsonb_build_object('member_id', p_member, 'source', p_source,
                                                      'location', jsonb_build_object('lon', p_lon, 'lat', p_lat,
                                                                                     'accuracy_m', p_accuracy)));
    END IF;
    RETURN v_answer || v_opening;
END;
$$;
