-- solomo_record_code_failure: one failed coupon code (unknown, or mistyped) counted against the caller in the
-- throttle (solomo/coupons/throttle.py): the level, drained by one every p_drain seconds, goes up by one.
-- The DO UPDATE takes the time from the offered row (excluded.at): Citus refuses non-immutable functions there.
CREATE OR REPLACE FUNCTION solomo_record_code_failure(p_brand uuid, p_caller text, p_drain double precision)
RETURNS void
LANGUAGE sql VOLATILE AS $$
    INSERT INTO code_failures AS f (brand_id, caller, level, at) VALUES (p_brand, p_caller, 1, now())
    ON CONFLICT (brand_id, caller) DO UPDATE
       SET level = greatest(f.level - extract(epoch FROM excluded.at - f.at) / p_drain, 0) + 1, at = excluded.at
$$;
