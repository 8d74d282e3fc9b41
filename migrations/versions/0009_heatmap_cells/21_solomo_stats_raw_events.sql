-- solomo_stats_raw_events: a brand's whole history as stats events, derived from the raw
-- tables. `solomo maintenance rebuild-stats` folds these instead of the journal; they must be exactly the
-- events the hot paths journal (net of corrections), which a test holds:
--   * a verified check-in counts at the brand and at every store whose fence it was in (matches other
--     than exits); a flagged one at the brand and at the stores kept on its row;
--   * a member's first verified check-in at the brand, and at each store, is a new member there (the hot
--     path journals +1 on arrival and moves it with -1/+1 when an earlier check-in arrives later);
--   * an impression counts on its brand-local day, at the store it was shown for;
--   * a claim at the store whose check-in made it claimable (none for a share code without a visit);
--   * a redemption at its store, with its order amount and time since the claim; a voided one counts as
--     a void (the hot path journals a redemption, then -1 redemption and +1 void);
--   * shares count for their sharer on the referrer board;
--   * a verified check-in carries its point (lon, lat) for the heatmap: coalesce(location, coarse_location), the
--     point the hot path journalled until retention coarsens it (then the ~1 km point the purge kept), none once
--     erasure removed both.
CREATE OR REPLACE FUNCTION solomo_stats_raw_events(p_brand uuid) RETURNS SETOF stats_pending
LANGUAGE sql STABLE AS $$
    SELECT c.brand_id, 'checkin', 1, c.recorded_at, true, coalesce(v.store_ids, '{}'), NULL::uuid, c.member_id,
           NULL::uuid, NULL::numeric, NULL::integer, ST_X(p.g), ST_Y(p.g)
    FROM checkins c
    CROSS JOIN LATERAL (SELECT CAST(coalesce(c.location, c.coarse_location) AS geometry) AS g) AS p
    LEFT JOIN (
        SELECT m.checkin_id, m.recorded_at, array_agg(DISTINCT m.store_id) AS store_ids
        FROM checkin_matches m
        WHERE m.brand_id = p_brand AND m.event IS DISTINCT FROM 'exit'
        GROUP BY m.checkin_id, m.recorded_at
    ) AS v ON v.checkin_id = c.id AND v.recorded_at = c.recorded_at
    WHERE c.brand_id = p_brand AND c.flags = '{}'
    UNION ALL
    SELECT c.brand_id, 'flagged', 1, c.recorded_at, true, coalesce(c.flagged_store_ids, '{}'), NULL, c.member_id,
           NULL, NULL, NULL, NULL, NULL
    FROM checkins c
    WHERE c.brand_id = p_brand AND c.flags <> '{}'
    UNION ALL
    SELECT p_brand, 'first', 1, min(c.recorded_at), true, '{}', NULL, c.member_id, NULL, NULL, NULL, NULL, NULL
    FROM checkins c
    WHERE c.brand_id = p_brand AND c.flags = '{}'
    GROUP BY c.member_id
    UNION ALL
    SELECT p_brand, 'first', 1, min(m.recorded_at), false, ARRAY[m.store_id], NULL, m.member_id, NULL, NULL, NULL,
           NULL, NULL
    FROM checkin_matches m
    WHERE m.brand_id = p_brand AND m.event IS DISTINCT FROM 'exit'
    GROUP BY m.member_id, m.store_id
    UNION ALL
    SELECT i.brand_id, 'impression', 1, i.shown_at, true, array_remove(ARRAY[i.store_id], NULL), i.offer_id, i.member_id,
           NULL, NULL, NULL, NULL, NULL
    FROM offer_impressions i
    WHERE i.brand_id = p_brand
    UNION ALL
    SELECT c.brand_id, 'claim', 1, c.claimed_at, true, array_remove(ARRAY[c.store_id], NULL), c.offer_id, c.member_id,
           c.referrer_id, NULL, NULL, NULL, NULL
    FROM coupons c
    WHERE c.brand_id = p_brand
    UNION ALL
    SELECT r.brand_id, CASE WHEN r.voided_at IS NULL THEN 'redeem' ELSE 'void' END, 1, r.redeemed_at, true,
           ARRAY[r.store_id], c.offer_id, c.member_id, c.referrer_id, r.order_amount,
           floor(extract(epoch FROM r.redeemed_at - c.claimed_at))::integer, NULL, NULL
    FROM redemptions r
    JOIN coupons c ON c.id = r.coupon_id
    WHERE r.brand_id = p_brand
    UNION ALL
    SELECT s.brand_id, 'share', 1, s.created_at, false, '{}', s.offer_id, s.member_id, s.member_id, NULL, NULL, NULL,
           NULL
    FROM offer_shares s
    WHERE s.brand_id = p_brand
$$;
