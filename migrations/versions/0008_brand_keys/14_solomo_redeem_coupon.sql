-- solomo_redeem_coupon: redeem a coupon at a store's till, in one round trip.
-- It journals the redemption for the stats (stats_pending) in the same transaction.
--
-- The coupon row is locked first (FOR UPDATE), so concurrent scans of one code run one after another and
-- each sees the last one's outcome; the partial unique index uq_redemptions_live (one redemption per coupon
-- that is not voided) is the database's guarantee behind that. The caller has already checked that the key
-- may act for p_store.
--
-- Answer: {"status": "redeemed", "redemption": {…}, "coupon": {…}} or a refusal, checked in this order:
--   unknown_code (also another brand's code), store_not_found, store_archived,
--   already_redeemed (with when and where), cancelled, expired, wrong_store,
--   visit_required (requires_visit: an unflagged check-in matching one of the store's fences in the last
--   60 minutes; only unflagged check-ins are matched, and an exit is not a visit).
CREATE OR REPLACE FUNCTION solomo_redeem_coupon(
    p_brand uuid, p_code text, p_store uuid, p_key uuid, p_role text, p_order_amount numeric
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c coupons;
    v_archived timestamptz;
    r redemptions;
BEGIN
    SELECT * INTO c FROM coupons WHERE code = p_code AND brand_id = p_brand FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('status', 'unknown_code');
    END IF;
    SELECT s.archived_at INTO v_archived FROM stores s WHERE s.brand_id = p_brand AND s.id = p_store;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('status', 'store_not_found');
    END IF;
    IF v_archived IS NOT NULL THEN
        RETURN jsonb_build_object('status', 'store_archived');
    END IF;
    SELECT * INTO r FROM redemptions WHERE brand_id = p_brand AND coupon_id = c.id AND voided_at IS NULL;
    IF FOUND THEN
        RETURN jsonb_build_object('status', 'already_redeemed', 'redemption', to_jsonb(r));
    END IF;
    IF c.cancelled_at IS NOT NULL THEN
        RETURN jsonb_build_object('status', 'cancelled');
    END IF;
    IF c.expires_at <= now() THEN
        RETURN jsonb_build_object('status', 'expired', 'expires_at', c.expires_at);
    END IF;
    IF c.redeemable_store_ids IS NOT NULL AND NOT p_store = ANY(c.redeemable_store_ids) THEN
        RETURN jsonb_build_object('status', 'wrong_store');
    END IF;
    IF c.requires_visit AND NOT EXISTS (
        SELECT 1 FROM checkin_matches m
         WHERE m.brand_id = p_brand AND m.member_id = c.member_id AND m.store_id = p_store
           AND m.recorded_at > now() - interval '60 minutes'
           AND m.event IS DISTINCT FROM 'exit'
    ) THEN
        RETURN jsonb_build_object('status', 'visit_required');
    END IF;

    INSERT INTO redemptions (brand_id, coupon_id, store_id, key_id, order_amount)
    VALUES (p_brand, c.id, p_store, p_key, p_order_amount)
    RETURNING * INTO r;
    INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, offer_id, member_id, referrer_id, amount,
                               wait_s)
    VALUES (p_brand, 'redeem', 1, r.redeemed_at, true, ARRAY[p_store], c.offer_id, c.member_id, c.referrer_id,
            p_order_amount, floor(extract(epoch FROM r.redeemed_at - c.claimed_at))::integer);
    INSERT INTO coupon_audit (brand_id, coupon_id, redemption_id, action, store_id, key_id, role, detail)
    VALUES (p_brand, c.id, r.id, 'redeem', p_store, p_key, p_role,
            jsonb_strip_nulls(jsonb_build_object('order_amount', p_order_amount)));
    RETURN jsonb_build_object('status', 'redeemed', 'redemption', to_jsonb(r), 'coupon', to_jsonb(c));
END;
$$;
