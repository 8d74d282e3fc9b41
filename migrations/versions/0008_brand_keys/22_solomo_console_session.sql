-- solomo_console_session: the live console session a browser's cookie names, as the API key it acts for.
-- A session is found by its brand and id (both in the cookie, so the look-up stays on the brand's rows) and its
-- secret's SHA-256; it is live until its absolute expiry and while it has been used within the idle window, and
-- only while its key is not revoked (revoking the key ends every session signed in with it at once).
-- Each use slides the idle deadline, but writes a new row version at most once a minute.
-- Called by the auth middleware (solomo/auth/middleware.py) for /v1 requests, by the hot routes' key hook
-- (solomo/hot/callers.py) and by the console's own session routes (solomo/console/sessions.py).
CREATE OR REPLACE FUNCTION solomo_console_session(
    p_brand uuid, p_session uuid, p_secret_hash bytea, p_idle_seconds integer
) RETURNS TABLE (key_id uuid, role text, store_ids uuid[], key_secret_hash bytea, key_name text, key_prefix text,
                 expires_at timestamptz)
LANGUAGE sql VOLATILE AS $$
    WITH found AS MATERIALIZED (
        SELECT s.brand_id, s.id, s.expires_at, s.idle_until, k.id AS key_id, k.role, k.store_ids, k.secret_hash,
               k.name, k.prefix
        FROM console_sessions s
        JOIN api_keys k ON k.id = s.api_key_id AND k.brand_id = s.brand_id
        WHERE s.brand_id = p_brand AND s.id = p_session AND s.secret_hash = p_secret_hash
          AND s.expires_at > now() AND s.idle_until > now() AND k.revoked_at IS NULL
    ), touched AS (
        UPDATE console_sessions s
           SET idle_until = least(s.expires_at, now() + make_interval(secs => p_idle_seconds))
          FROM found f
         WHERE s.brand_id = p_brand AND s.id = f.id
           AND f.idle_until < now() + make_interval(secs => p_idle_seconds - 60)
    )
    SELECT f.key_id, f.role, f.store_ids, f.secret_hash, f.name, f.prefix, f.expires_at FROM found f
$$;
