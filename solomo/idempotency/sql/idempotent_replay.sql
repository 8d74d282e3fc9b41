-- solomo_idempotent_replay: what an Idempotency-Key already says about a request (solomo/idempotency/__init__.py
-- states the rules): NULL when the request is new and may go ahead, under a transaction-level advisory lock on
-- the key's scope that the caller's transaction keeps until it ends; otherwise
--   {"status": "idempotency_key_in_use"}                          a request with this key is in flight;
--   {"status": "idempotency_key_reused", "why": …}                 the key was used on another path or body;
--   {"status": "replayed", "status_code": …, "response": "<text>"}  the first answer, stored as text.
-- p_fingerprint is SHA-256 of the concrete path, then SHA-256 of the body (64 bytes). The row is found by brand,
-- caller, method and key, so one primary-key probe finds a key whatever path it was first used on.
CREATE OR REPLACE FUNCTION solomo_idempotent_replay(
    p_brand uuid, p_caller text, p_method text, p_key text, p_fingerprint bytea
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k record;
BEGIN
    -- pg_try_: a second request with the key answers at once instead of queueing behind the first.
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_brand || '|' || p_caller || '|' || p_method || '|' || p_key, 0))
    THEN
        RETURN jsonb_build_object('status', 'idempotency_key_in_use');
    END IF;
    SELECT i.body_hash, i.status_code, i.response INTO k
      FROM idempotency_keys i
     WHERE i.brand_id = p_brand AND i.caller = p_caller AND i.method = p_method AND i.key = p_key
       AND i.created_at > now() - interval '24 hours';
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF substring(k.body_hash FROM 1 FOR 32) IS DISTINCT FROM substring(p_fingerprint FROM 1 FOR 32) THEN
        RETURN jsonb_build_object('status', 'idempotency_key_reused', 'why', 'was used for a request to another path');
    END IF;
    IF k.body_hash IS DISTINCT FROM p_fingerprint THEN
        RETURN jsonb_build_object('status', 'idempotency_key_reused', 'why', 'was used with another body');
    END IF;
    RETURN jsonb_build_object('status', 'replayed', 'status_code', k.status_code,
                              'response', convert_from(k.response, 'UTF8'));
END;
$$;
