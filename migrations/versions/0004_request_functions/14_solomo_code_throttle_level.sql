-- solomo_code_throttle_level: where a caller (an API key) stands in the throttle on failed coupon codes
-- (solomo/coupons/throttle.py): its failures, each drained after p_drain seconds; NULL when it has none. A single
-- expression, so the planner inlines it into the till's statements and the redemption request function.
CREATE OR REPLACE FUNCTION solomo_code_throttle_level(p_brand uuid, p_caller text, p_drain double precision)
RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT greatest(f.level - extract(epoch FROM now() - f.at) / p_drain, 0)
    FROM code_failures f WHERE f.brand_id = p_brand AND f.caller = p_caller
$$;
