-- solomo_redeem_request: the whole of POST /v1/redemptions in one statement, run in autocommit (it commits as it
-- returns; the app answers after). The app has hashed the API key and found its brand and id (an immutable fact
-- it remembers per process), checked the body and the Idempotency-Key's form and the code's check symbol
-- (solomo/coupons/redeem_request.py). This function does the rest, each refusal answered as {"status": …}:
--   1. the key: not revoked, with this hash ("key_revoked"); its role admin or manager ("role_not_allowed");
--   2. the key's request budget: refused when the level, read without a lock (solomo_budget_level), has no room
--      ("budget_exhausted"). The charge itself comes last (step 7), so that the key's row, which every request of
--      a busy till charges, is locked only while this statement commits, not while it redeems (one key's
--      redemptions would otherwise run one at a time). Requests already in flight when the budget runs out still
--      count: the level may pass the burst by at most the number of them, and later requests wait that out;
--   3. with an Idempotency-Key, solomo_idempotent_replay answers a replay, a key in use or a key reused;
--   4. the throttle on failed codes (solomo_code_throttle_level): "too_many_failed_codes" with the level; a code
--      with a wrong check symbol (p_mistyped) counts as a failure (solomo_record_code_failure), "code_mistyped";
--   5. a manager's key acts only for its own stores ("store_out_of_scope");
--   6. the redemption (solomo_redeem_coupon, solomo/coupons/sql/redeem_coupon.sql), which writes nothing when it
--      refuses; an unknown code counts as a failure. A redemption's answer is kept under the Idempotency-Key;
--   7. the budget charged (forced, see 2); every answer from here carries "budget_charged" and "role".
-- p_brand comes first and only the brand's rows are touched.
CREATE OR REPLACE FUNCTION solomo_redeem_request(
    p_brand uuid, p_key uuid, p_secret_hash bytea, p_burst integer, p_rate double precision,
    p_idempotency_key text, p_fingerprint bytea, p_drain double precision, p_last_allowed double precision,
    p_code text, p_mistyped boolean, p_store uuid, p_order_amount numeric
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
-- Generic plans for every statement this call runs, nested functions included. Left to choose, the plan cache
-- estimates the check-in's generic plans costlier than custom ones and plans those statements afresh on every
-- call: about a quarter of the database's CPU per check-in (bench/README.md, "Generic plans").
-- tests/test_checkins.py checks that the fence lookup's generic plan keeps the GiST index.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_caller text := p_key::text;
    v_subject text := 'key:' || p_key;
    v_role text;
    v_stores uuid[];
    v_level double precision;
    v_budget record;
    v_answer jsonb;
BEGIN
    SELECT k.role, k.store_ids INTO v_role, v_stores
      FROM api_keys k
     WHERE k.brand_id = p_brand AND k.id = p_key AND k.secret_hash = p_secret_hash AND k.revoked_at IS NULL;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('status', 'key_revoked');
    END IF;
    IF v_role NOT IN ('admin', 'manager') THEN
        RETURN jsonb_build_object('status', 'role_not_allowed', 'role', v_role);
    END IF;
    v_level := solomo_budget_level(p_brand, v_subject, p_rate);
    IF v_level + 1 > p_burst THEN
        RETURN jsonb_build_object('status', 'budget_exhausted', 'budget_level', v_level, 'role', v_role);
    END IF;

    IF p_idempotency_key IS NOT NULL THEN
        v_answer := solomo_idempotent_replay(p_brand, v_caller, 'POST', p_idempotency_key, p_fingerprint);
    END IF;
    IF v_answer IS NULL THEN
        v_level := solomo_code_throttle_level(p_brand, v_caller, p_drain);
        IF v_level > p_last_allowed THEN
            v_answer := jsonb_build_object('status', 'too_many_failed_codes', 'throttle_level', v_level);
        ELSIF p_mistyped THEN
            PERFORM solomo_record_code_failure(p_brand, v_caller, p_drain);
            v_answer := jsonb_build_object('status', 'code_mistyped');
        ELSIF v_role = 'manager' AND NOT p_store = ANY(v_stores) THEN
            v_answer := jsonb_build_object('status', 'store_out_of_scope');
        ELSE
            v_answer := solomo_redeem_coupon(p_brand, p_code, p_store, p_key, v_role, p_order_amount);
            IF v_answer->>'status' = 'unknown_code' THEN
                PERFORM solomo_record_code_failure(p_brand, v_caller, p_drain);
            ELSIF v_answer->>'status' = 'redeemed' THEN
                IF p_idempotency_key IS NOT NULL THEN
                    PERFORM solomo_idempotent_save(p_brand, v_caller, 'POST', p_idempotency_key, p_fingerprint,
                                                   201, convert_to(v_answer::text, 'UTF8'));
                END IF;
                -- The webhook outbox row (solomo/webhooks/sql/webhook_enqueue.sql), without the coupon's code.
                PERFORM solomo_webhook_enqueue(p_brand, 'redemption', (v_answer->'coupon'->>'member_id')::uuid,
                    jsonb_build_object('redemption', v_answer->'redemption',
                                       'coupon', (v_answer->'coupon') - 'code'));
            END IF;
        END IF;
    END IF;

    SELECT * INTO v_budget FROM solomo_charge_budget(p_brand, v_subject, p_burst, p_rate, true);
    RETURN v_answer || jsonb_build_object('budget_charged', v_budget.charged, 'role', v_role);
END;
$$;
