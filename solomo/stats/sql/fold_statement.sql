-- The fold statement: a batch of stats events, `ev`, added to the rollups in one statement.
-- It is not installed by itself: fold.sql (solomo_stats_fold) and fold_raw.sql (solomo_stats_fold_raw) include
-- it with the events placeholder in `ev` replaced (solomo/db/functions.py): solomo_stats_fold takes the
-- brand's journal (DELETE … RETURNING, so the events leave the journal in the transaction that counts them) and
-- solomo_stats_fold_raw takes the brand's whole history from the raw rows (the rebuild). One text, so the
-- journal and the rebuild can never count differently.
--
-- Each event counts toward the whole brand (store_key all zeros) when in_brand, and toward each store in
-- store_ids; toward all offers (offer_key all zeros) and its own offer. Days are brand-local; hours are the
-- store's local hour on a store's rows and the brand's on brand-wide rows. Rows exist per day, ISO week and
-- calendar month (grain d/w/m) so that a long range adds up a few dozen rows per key, not hundreds. The
-- referrer board also keeps, per sharer, the four-month windows (grain r, under the window's last month): the
-- bound it ranks sharers by (see solomo/stats/referrers.py).
-- Shares count only on the referrer board; flagged check-ins add no one to the unique-member sketch.
-- The check-in heatmap's rollup, heatmap_cells (solomo/stats/heatmap_cells.py), counts each verified check-in that
-- carries a point in its hexagon on every rung of the ladder: ST_Hexagon's layout in EPSG:3857 with circumradius
-- 100·√2^k Mercator metres, k = 0..20 (100 m to 102.4 km), per brand-local day and calendar month, with its
-- members' sketch. Journal rows without a point (written before the journal had one) add nothing there: the
-- migration that made the table filled it from the raw rows.
    WITH ev AS (
        /*EVENTS*/
    ),
    keyed AS (
        SELECT e.kind, e.n, e.offer_id, e.member_id, e.referrer_id, e.amount,
               width_bucket(e.wait_s, ARRAY[60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200, 604800, 1209600, 2592000, 7776000]) AS bucket,
               (e.at AT TIME ZONE b.timezone)::date AS day,
               extract(hour FROM e.at AT TIME ZONE k.timezone)::smallint AS hour,
               k.store_key
        FROM ev e
        JOIN brands b ON b.id = e.brand_id
        CROSS JOIN LATERAL (
            SELECT '00000000-0000-0000-0000-000000000000'::uuid AS store_key, b.timezone WHERE e.in_brand
            UNION ALL
            -- One primary-key probe per store of the event, not a scan of the brand's stores per event.
            SELECT s.id, s.timezone FROM unnest(e.store_ids) AS u(id) JOIN stores s ON s.id = u.id AND s.brand_id = p_brand
        ) AS k
        WHERE e.kind <> 'share'
    ),
    cells AS (
        SELECT k.day, k.hour, k.store_key, o.offer_key,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'checkin'), 0) AS checkins,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'flagged'), 0) AS checkins_flagged,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'first'), 0) AS new_members,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'impression'), 0) AS impressions,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'claim'), 0) AS claims,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'claim' AND k.referrer_id IS NOT NULL), 0) AS referred_claims,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem'), 0) AS redemptions,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.referrer_id IS NOT NULL), 0) AS referred_redemptions,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'void'), 0) AS voids,
               coalesce(sum(k.n * k.amount) FILTER (WHERE k.kind = 'redeem' AND k.amount IS NOT NULL), 0) AS order_amount,
               coalesce(hll_add_agg(hll_hash_bytea(uuid_send(k.member_id)), 11, 5, -1, 1) FILTER (WHERE k.kind <> 'flagged'),
                    hll_empty(11, 5, -1, 1)) AS members,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 0), 0) AS w00,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 1), 0) AS w01,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 2), 0) AS w02,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 3), 0) AS w03,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 4), 0) AS w04,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 5), 0) AS w05,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 6), 0) AS w06,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 7), 0) AS w07,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 8), 0) AS w08,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 9), 0) AS w09,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 10), 0) AS w10,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 11), 0) AS w11,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 12), 0) AS w12,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 13), 0) AS w13,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 14), 0) AS w14,
               coalesce(sum(k.n) FILTER (WHERE k.kind = 'redeem' AND k.bucket = 15), 0) AS w15
        FROM keyed k
        CROSS JOIN LATERAL (
            SELECT '00000000-0000-0000-0000-000000000000'::uuid AS offer_key
            UNION ALL
            SELECT k.offer_id WHERE k.offer_id IS NOT NULL
        ) AS o
        GROUP BY k.day, k.hour, k.store_key, o.offer_key
    ),
    by_period AS (
        SELECT g.grain, g.period, c.hour, c.store_key, c.offer_key,
               sum(c.checkins) AS checkins,
               sum(c.checkins_flagged) AS checkins_flagged,
               sum(c.new_members) AS new_members,
               sum(c.impressions) AS impressions,
               sum(c.claims) AS claims,
               sum(c.referred_claims) AS referred_claims,
               sum(c.redemptions) AS redemptions,
               sum(c.referred_redemptions) AS referred_redemptions,
               sum(c.voids) AS voids,
               sum(c.order_amount) AS order_amount,
               hll_union_agg(c.members) AS members,
               sum(c.w00) AS w00,
               sum(c.w01) AS w01,
               sum(c.w02) AS w02,
               sum(c.w03) AS w03,
               sum(c.w04) AS w04,
               sum(c.w05) AS w05,
               sum(c.w06) AS w06,
               sum(c.w07) AS w07,
               sum(c.w08) AS w08,
               sum(c.w09) AS w09,
               sum(c.w10) AS w10,
               sum(c.w11) AS w11,
               sum(c.w12) AS w12,
               sum(c.w13) AS w13,
               sum(c.w14) AS w14,
               sum(c.w15) AS w15
        FROM cells c
        CROSS JOIN LATERAL (
            VALUES ('d', c.day), ('w', date_trunc('week', c.day)::date), ('m', date_trunc('month', c.day)::date)
        ) AS g(grain, period)
        GROUP BY g.grain, g.period, c.hour, c.store_key, c.offer_key
    ),
    hourly AS (
        INSERT INTO stats_hourly AS t (brand_id, store_key, offer_key, grain, period, hour, checkins, checkins_flagged, new_members, impressions, claims, referred_claims, redemptions, referred_redemptions, voids, order_amount, members, w00, w01, w02, w03, w04, w05, w06, w07, w08, w09, w10, w11, w12, w13, w14, w15)
        SELECT p_brand, p.store_key, p.offer_key, p.grain, p.period, p.hour, p.checkins, p.checkins_flagged, p.new_members, p.impressions, p.claims, p.referred_claims, p.redemptions, p.referred_redemptions, p.voids, p.order_amount, p.members, p.w00, p.w01, p.w02, p.w03, p.w04, p.w05, p.w06, p.w07, p.w08, p.w09, p.w10, p.w11, p.w12, p.w13, p.w14, p.w15
        FROM by_period p
        ON CONFLICT (brand_id, store_key, offer_key, grain, period, hour) DO UPDATE
           SET checkins = t.checkins + excluded.checkins,
               checkins_flagged = t.checkins_flagged + excluded.checkins_flagged,
               new_members = t.new_members + excluded.new_members,
               impressions = t.impressions + excluded.impressions,
               claims = t.claims + excluded.claims,
               referred_claims = t.referred_claims + excluded.referred_claims,
               redemptions = t.redemptions + excluded.redemptions,
               referred_redemptions = t.referred_redemptions + excluded.referred_redemptions,
               voids = t.voids + excluded.voids,
               order_amount = t.order_amount + excluded.order_amount,
               w00 = t.w00 + excluded.w00,
               w01 = t.w01 + excluded.w01,
               w02 = t.w02 + excluded.w02,
               w03 = t.w03 + excluded.w03,
               w04 = t.w04 + excluded.w04,
               w05 = t.w05 + excluded.w05,
               w06 = t.w06 + excluded.w06,
               w07 = t.w07 + excluded.w07,
               w08 = t.w08 + excluded.w08,
               w09 = t.w09 + excluded.w09,
               w10 = t.w10 + excluded.w10,
               w11 = t.w11 + excluded.w11,
               w12 = t.w12 + excluded.w12,
               w13 = t.w13 + excluded.w13,
               w14 = t.w14 + excluded.w14,
               w15 = t.w15 + excluded.w15,
               members = hll_union(t.members, excluded.members)
    ),
    whole AS (
        INSERT INTO stats_rollup AS t (brand_id, store_key, offer_key, grain, period, checkins, checkins_flagged, new_members, impressions, claims, referred_claims, redemptions, referred_redemptions, voids, order_amount, members, w00, w01, w02, w03, w04, w05, w06, w07, w08, w09, w10, w11, w12, w13, w14, w15)
        SELECT p_brand, p.store_key, p.offer_key, p.grain, p.period,
               sum(p.checkins) AS checkins,
               sum(p.checkins_flagged) AS checkins_flagged,
               sum(p.new_members) AS new_members,
               sum(p.impressions) AS impressions,
               sum(p.claims) AS claims,
               sum(p.referred_claims) AS referred_claims,
               sum(p.redemptions) AS redemptions,
               sum(p.referred_redemptions) AS referred_redemptions,
               sum(p.voids) AS voids,
               sum(p.order_amount) AS order_amount,
               hll_union_agg(p.members) AS members,
               sum(p.w00) AS w00,
               sum(p.w01) AS w01,
               sum(p.w02) AS w02,
               sum(p.w03) AS w03,
               sum(p.w04) AS w04,
               sum(p.w05) AS w05,
               sum(p.w06) AS w06,
               sum(p.w07) AS w07,
               sum(p.w08) AS w08,
               sum(p.w09) AS w09,
               sum(p.w10) AS w10,
               sum(p.w11) AS w11,
               sum(p.w12) AS w12,
               sum(p.w13) AS w13,
               sum(p.w14) AS w14,
               sum(p.w15) AS w15
        FROM by_period p
        GROUP BY p.store_key, p.offer_key, p.grain, p.period
        ON CONFLICT (brand_id, store_key, offer_key, grain, period) DO UPDATE
           SET checkins = t.checkins + excluded.checkins,
               checkins_flagged = t.checkins_flagged + excluded.checkins_flagged,
               new_members = t.new_members + excluded.new_members,
               impressions = t.impressions + excluded.impressions,
               claims = t.claims + excluded.claims,
               referred_claims = t.referred_claims + excluded.referred_claims,
               redemptions = t.redemptions + excluded.redemptions,
               referred_redemptions = t.referred_redemptions + excluded.referred_redemptions,
               voids = t.voids + excluded.voids,
               order_amount = t.order_amount + excluded.order_amount,
               w00 = t.w00 + excluded.w00,
               w01 = t.w01 + excluded.w01,
               w02 = t.w02 + excluded.w02,
               w03 = t.w03 + excluded.w03,
               w04 = t.w04 + excluded.w04,
               w05 = t.w05 + excluded.w05,
               w06 = t.w06 + excluded.w06,
               w07 = t.w07 + excluded.w07,
               w08 = t.w08 + excluded.w08,
               w09 = t.w09 + excluded.w09,
               w10 = t.w10 + excluded.w10,
               w11 = t.w11 + excluded.w11,
               w12 = t.w12 + excluded.w12,
               w13 = t.w13 + excluded.w13,
               w14 = t.w14 + excluded.w14,
               w15 = t.w15 + excluded.w15,
               members = hll_union(t.members, excluded.members)
    ),
    referred AS (
        INSERT INTO stats_referrers AS t (brand_id, offer_key, grain, period, referrer_id, shares, claims, redemptions,
                                          order_amount)
        SELECT p_brand, o.offer_key, g.grain, g.period, e.referrer_id,
               count(*) FILTER (WHERE e.kind = 'share'),
               count(*) FILTER (WHERE e.kind = 'claim'),
               coalesce(sum(e.n) FILTER (WHERE e.kind = 'redeem'), 0),
               coalesce(sum(e.n * e.amount) FILTER (WHERE e.kind = 'redeem' AND e.amount IS NOT NULL), 0)
        FROM ev e
        JOIN brands b ON b.id = e.brand_id
        CROSS JOIN LATERAL (SELECT (e.at AT TIME ZONE b.timezone)::date AS day) AS d
        CROSS JOIN LATERAL (
            VALUES ('d', d.day), ('w', date_trunc('week', d.day)::date), ('m', date_trunc('month', d.day)::date),
                   ('r', date_trunc('month', d.day)::date),
                   ('r', (date_trunc('month', d.day) + interval '1 month')::date),
                   ('r', (date_trunc('month', d.day) + interval '2 months')::date),
                   ('r', (date_trunc('month', d.day) + interval '3 months')::date)
        ) AS g(grain, period)
        CROSS JOIN LATERAL (
            SELECT '00000000-0000-0000-0000-000000000000'::uuid AS offer_key
            UNION ALL
            SELECT e.offer_id WHERE e.offer_id IS NOT NULL
        ) AS o
        WHERE e.referrer_id IS NOT NULL AND e.kind IN ('share', 'claim', 'redeem')
        GROUP BY o.offer_key, g.grain, g.period, e.referrer_id
        ON CONFLICT (brand_id, offer_key, grain, period, referrer_id) DO UPDATE
           SET shares = t.shares + excluded.shares, claims = t.claims + excluded.claims,
               redemptions = t.redemptions + excluded.redemptions,
               order_amount = t.order_amount + excluded.order_amount
    ),
    -- Projected once per check-in (EPSG:3857 is these two formulas on its sphere); beyond ±85.0511° Mercator y
    -- runs off to infinity, and no heatmap box reaches there.
    heat_points AS MATERIALIZED (
        SELECT (e.at AT TIME ZONE b.timezone)::date AS day, e.member_id, e.n,
               6378137 * radians(e.lon) AS x, 6378137 * ln(tan(pi() / 4 + radians(e.lat) / 2)) AS y
        FROM ev e
        JOIN brands b ON b.id = e.brand_id
        WHERE e.kind = 'checkin' AND e.lon IS NOT NULL AND abs(e.lat) <= 85.0511287798066
    ),
    -- A column's and a row's width per rung, materialized so they reach solomo_heatmap_cell as plain values.
    heat_rungs AS MATERIALIZED (
        SELECT k::smallint AS rung, w.column_m, w.row_m
        FROM generate_series(0, 20) AS k
        CROSS JOIN LATERAL solomo_heatmap_rung(k) AS w
    ),
    heat_days AS MATERIALIZED (
        SELECT c.rung, c.day, c.cell[1] AS i, c.cell[2] AS j, sum(c.n) AS checkins,
               hll_add_agg(hll_hash_bytea(uuid_send(c.member_id)), 11, 5, -1, 1) AS members
        FROM (
            SELECT r.rung, p.day, p.member_id, p.n, solomo_heatmap_cell(p.x / r.column_m, p.y / r.row_m) AS cell
            FROM heat_points p
            CROSS JOIN heat_rungs r
        ) AS c
        GROUP BY c.rung, c.day, c.cell
    ),
    heated AS (
        INSERT INTO heatmap_cells AS t (brand_id, rung, grain, period, i, j, checkins, members)
        SELECT p_brand, d.rung, 'd', d.day, d.i, d.j, d.checkins, d.members
        FROM heat_days d
        UNION ALL
        SELECT p_brand, d.rung, 'm', date_trunc('month', d.day)::date, d.i, d.j, sum(d.checkins), hll_union_agg(d.members)
        FROM heat_days d
        GROUP BY d.rung, date_trunc('month', d.day), d.i, d.j
        ON CONFLICT (brand_id, rung, grain, period, i, j) DO UPDATE
           SET checkins = t.checkins + excluded.checkins,
               members = hll_union(t.members, excluded.members)
    )
    SELECT count(*) INTO v_events FROM ev;
