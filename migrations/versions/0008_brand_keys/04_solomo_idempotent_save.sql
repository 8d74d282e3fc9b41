-- solomo_idempotent_save: keep a request's answer under its Idempotency-Key, in the transaction of the work it
-- answers (so a replay can only ever see committed work). Called after solomo_idempotent_replay found nothing;
-- a row older than 24 hours under the same key is replaced.
CREATE OR REPLACE FUNCTION solomo_idempotent_save(
    p_brand uuid, p_caller text, p_method text, p_key text, p_fingerprint bytea, p_status_code integer,
    p_response bytea
) RETURNS void
LANGUAGE sql VOLATILE AS $$
    INSERT INTO idempotency_keys (brand_id, caller, method, key, body_hash, status_code, response)
    VALUES (p_brand, p_caller, p_method, p_key, p_fingerprint, p_status_code, p_response)
    ON CONFLICT (brand_id, caller, method, key) DO UPDATE
       SET body_hash = excluded.body_hash, status_code = excluded.status_code, response = excluded.response,
           created_at = excluded.created_at  -- the column's default, now(): Citus refuses functions here
$$;
