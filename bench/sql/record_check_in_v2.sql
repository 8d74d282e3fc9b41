-- solomo_record_check_in, version 2 (a frozen copy for bench/offer_lookup.py; the living function is in
-- solomo/checkins/sql/record_check_in.sql). Its original header follows.
-- solomo_record_check_in (version 2, migration 0009): the whole check-in in one call (one round trip from the
-- API), now also answering with the offers the check-in makes claimable.
--
-- Runs in the caller's transaction. Being a VOLATILE plpgsql function, each statement below takes a
-- fresh snapshot, so after the member row is locked (serialising one member's check-ins) the rate
-- limit, the speed check and the fence state all see every check-in committed before.
--
-- Answers a jsonb document:
--   {"status": "member_not_found" | "consent_required"}                    nothing stored
--   {"status": "rate_limited", "retry_after": seconds}                       nothing stored
--   {"status": "recorded", "id": …, "flags": [...], "matches": [...], "exits": [...], "offers": [...]}
--
-- Rules (DESIGN.md §3):
--   * matching: tol = least(accuracy, brand tolerance cap); polygons match when ST_DWithin(fence, P, tol)
--     (0 inside, boundary included); circles when ST_DWithin(center, P, radius + tol). The indexed
--     prefilter for both is ST_DWithin(geom, P, tol) on (brand_id, geom): geom contains each circle.
--   * flags: low_accuracy (accuracy above the brand limit), mocked, impossible_speed (distance to the
--     previous unflagged check-in by recorded_at, minus both accuracies, over max(dt, 30 s), above the
--     brand limit). A flagged check-in is stored but matches nothing and changes no fence state.
--   * events per member and fence: enter when not inside; dwell once after dwell_seconds inside (never
--     when dwell_seconds = 0); exit when a later check-in is outside.
--   * eligibility: an enter/dwell event at a fence makes claimable (for the brand's eligibility window from
--     recorded_at) every active offer of a serving campaign (active, recorded_at inside its window) whose
--     trigger is that event, whose place includes the fence or its store, and whose audience and weekly
--     hours (store-local) admit the member (solomo_offer_admits; marketing consent required). Each offer
--     shown is an impression, once per member, offer and brand-local day.
--   * order: fence state moves forward in recorded_at only. A check-in older than a fence's last
--     state change ("late") is stored and reported as matching, but fires nothing for that fence and
--     changes nothing; the state it would have produced is superseded by the newer one already applied.
CREATE OR REPLACE FUNCTION solomo_record_check_in(
    p_brand uuid,
    p_member uuid,
    p_lon double precision,
    p_lat double precision,
    p_accuracy double precision,
    p_recorded_at timestamptz,
    p_mocked boolean,
    p_source text
) RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_point geography := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326)::geography;
    v_consent boolean;
    v_tolerance_cap double precision;
    v_accuracy_limit double precision;
    v_speed_limit double precision;
    v_interval integer;
    v_timezone text;
    v_window integer;
    v_offers jsonb := '[]';
    v_last_received timestamptz;
    v_prev record;
    v_flags text[] := '{}';
    v_tol double precision;
    v_checkin_id uuid;
    v_received_at timestamptz;
    v_matches jsonb := '[]';
    v_exits jsonb := '[]';
BEGIN
    SELECT m.consent_location INTO v_consent
    FROM members m
    WHERE m.id = p_member AND m.brand_id = p_brand AND m.merged_into_id IS NULL AND m.erased_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('status', 'member_not_found');
    END IF;
    IF NOT v_consent THEN
        RETURN jsonb_build_object('status', 'consent_required');
    END IF;

    SELECT b.tolerance_cap_m, b.accuracy_limit_m, b.speed_limit_kmh, b.checkin_min_interval_s, b.timezone,
           b.eligibility_window_min
    INTO v_tolerance_cap, v_accuracy_limit, v_speed_limit, v_interval, v_timezone, v_window
    FROM brands b WHERE b.id = p_brand;

    -- Rate limit on the server's clock: a client cannot make room by back-dating recorded_at.
    SELECT c.received_at INTO v_last_received
    FROM checkins c
    WHERE c.brand_id = p_brand AND c.member_id = p_member
    ORDER BY c.received_at DESC
    LIMIT 1;
    IF v_last_received IS NOT NULL AND now() < v_last_received + make_interval(secs => v_interval) THEN
        RETURN jsonb_build_object(
            'status', 'rate_limited',
            'retry_after', greatest(1, ceil(extract(epoch FROM v_last_received + make_interval(secs => v_interval) - now())))::integer
        );
    END IF;

    IF p_mocked THEN
        v_flags := v_flags || 'mocked'::text;
    END IF;
    IF p_accuracy > v_accuracy_limit THEN
        v_flags := v_flags || 'low_accuracy'::text;
    END IF;
    SELECT c.location, c.accuracy_m, c.recorded_at INTO v_prev
    FROM checkins c
    WHERE c.brand_id = p_brand AND c.member_id = p_member AND c.recorded_at <= p_recorded_at
      AND c.flags = '{}' AND c.location IS NOT NULL
    ORDER BY c.recorded_at DESC
    LIMIT 1;
    IF FOUND AND greatest(0, ST_Distance(v_prev.location, v_point) - v_prev.accuracy_m - p_accuracy)
            / greatest(extract(epoch FROM p_recorded_at - v_prev.recorded_at), 30) * 3.6 > v_speed_limit THEN
        v_flags := v_flags || 'impossible_speed'::text;
    END IF;

    INSERT INTO checkins (brand_id, member_id, recorded_at, location, accuracy_m, mocked, source, flags)
    VALUES (p_brand, p_member, p_recorded_at, v_point, p_accuracy, p_mocked, p_source, v_flags)
    RETURNING id, received_at INTO v_checkin_id, v_received_at;

    IF v_flags = '{}' THEN
        v_tol := least(p_accuracy, v_tolerance_cap);

        WITH matched AS (
            SELECT g.id AS fence_id, g.store_id, g.dwell_seconds
            FROM geofences g
            WHERE g.brand_id = p_brand
              AND g.active
              AND ST_DWithin(g.geom, v_point, v_tol)
              AND (g.kind = 'polygon' OR ST_DWithin(g.center, v_point, g.radius_m + v_tol))
        ),
        decided AS (
            SELECT m.fence_id, m.store_id, m.dwell_seconds,
                   s.last_recorded_at IS NOT NULL AND p_recorded_at < s.last_recorded_at AS late,
                   CASE
                       WHEN s.last_recorded_at IS NOT NULL AND p_recorded_at < s.last_recorded_at THEN NULL
                       WHEN s.inside IS NOT TRUE THEN 'enter'
                       WHEN NOT s.dwell_fired AND m.dwell_seconds > 0
                            AND p_recorded_at >= s.entered_at + make_interval(secs => m.dwell_seconds) THEN 'dwell'
                   END AS event,
                   CASE WHEN s.inside IS NOT TRUE THEN p_recorded_at ELSE s.entered_at END AS entered_at,
                   CASE
                       WHEN s.inside IS NOT TRUE THEN m.dwell_seconds = 0
                       ELSE s.dwell_fired OR (m.dwell_seconds > 0
                            AND p_recorded_at >= s.entered_at + make_interval(secs => m.dwell_seconds))
                   END AS dwell_fired
            FROM matched m
            LEFT JOIN fence_states s ON s.member_id = p_member AND s.fence_id = m.fence_id
        ),
        moved AS (
            INSERT INTO fence_states AS s (brand_id, member_id, fence_id, inside, entered_at, dwell_fired, last_recorded_at)
            SELECT p_brand, p_member, d.fence_id, true, d.entered_at, d.dwell_fired, p_recorded_at
            FROM decided d
            WHERE NOT d.late
            ON CONFLICT (member_id, fence_id) DO UPDATE
               SET inside = true, entered_at = excluded.entered_at, dwell_fired = excluded.dwell_fired,
                   last_recorded_at = excluded.last_recorded_at
        ),
        exited AS (
            UPDATE fence_states s
               SET inside = false, entered_at = NULL, dwell_fired = false, last_recorded_at = p_recorded_at
             FROM geofences g
            WHERE s.member_id = p_member AND s.brand_id = p_brand AND s.inside
              AND s.last_recorded_at <= p_recorded_at
              AND g.id = s.fence_id
              AND s.fence_id NOT IN (SELECT d.fence_id FROM decided d)
            RETURNING s.fence_id, g.store_id
        ),
        logged AS (
            INSERT INTO checkin_matches (checkin_id, recorded_at, brand_id, member_id, fence_id, store_id, event)
            SELECT v_checkin_id, p_recorded_at, p_brand, p_member, d.fence_id, d.store_id, d.event FROM decided d
            UNION ALL
            SELECT v_checkin_id, p_recorded_at, p_brand, p_member, e.fence_id, e.store_id, 'exit' FROM exited e
        )
        SELECT
            coalesce((SELECT jsonb_agg(jsonb_build_object('fence_id', d.fence_id, 'store_id', d.store_id, 'event', d.event)
                                       ORDER BY d.fence_id) FROM decided d), '[]'),
            coalesce((SELECT jsonb_agg(jsonb_build_object('fence_id', e.fence_id, 'store_id', e.store_id)
                                       ORDER BY e.fence_id) FROM exited e), '[]')
        INTO v_matches, v_exits;

        -- Offers, only when an event fired (staying inside grants nothing new). The fired events arrive as
        -- a small array, so the offers are looked up per event rather than joined against a CTE estimate.
        IF jsonb_path_exists(v_matches, '$[*] ? (@.event != null)') THEN
            WITH fired AS (
                SELECT x.fence_id, x.store_id, x.event
                FROM jsonb_to_recordset(v_matches) AS x(fence_id uuid, store_id uuid, event text)
                WHERE x.event IS NOT NULL
            ),
            candidates AS (
                SELECT DISTINCT ON (o.id) o.id AS offer_id, o.title, f.store_id
                FROM fired f
                JOIN members m ON m.id = p_member
                JOIN stores s ON s.brand_id = p_brand AND s.id = f.store_id
                JOIN offers o ON o.brand_id = p_brand AND o.active AND o.trigger = f.event
                JOIN campaigns c ON c.brand_id = p_brand AND c.id = o.campaign_id AND c.status = 'active'
                                AND p_recorded_at >= c.starts_at AND p_recorded_at < c.ends_at
                WHERE (o.target = 'all_stores'
                       OR (o.target = 'stores' AND f.store_id = ANY(o.store_ids))
                       OR (o.target = 'geofences' AND f.fence_id = ANY(o.geofence_ids)))
                  AND solomo_offer_admits(o.audience_tags, o.audience_tiers, o.audience_provider, o.min_followers,
                                          o.joined_within_days, o.weekly_hours, m.brand_id, m.id, m.tags, m.tier,
                                          m.joined_at, m.consent_marketing, p_recorded_at, s.timezone)
                ORDER BY o.id, f.store_id
            ),
            granted AS (
                INSERT INTO offer_eligibility AS e
                    (brand_id, member_id, offer_id, store_id, checkin_id, granted_at, eligible_until)
                SELECT p_brand, p_member, c.offer_id, c.store_id, v_checkin_id, p_recorded_at,
                       p_recorded_at + make_interval(mins => v_window)
                FROM candidates c
                WHERE p_recorded_at + make_interval(mins => v_window) > now()
                ON CONFLICT (member_id, offer_id) DO UPDATE
                   SET eligible_until = greatest(e.eligible_until, excluded.eligible_until),
                       store_id = excluded.store_id, checkin_id = excluded.checkin_id, granted_at = excluded.granted_at
                RETURNING e.offer_id, e.eligible_until
            ),
            shown AS (
                INSERT INTO offer_impressions (brand_id, member_id, offer_id, day, source, shown_at)
                SELECT p_brand, p_member, g.offer_id, (now() AT TIME ZONE v_timezone)::date, 'checkin', now()
                FROM granted g
                ON CONFLICT (member_id, offer_id, day) DO NOTHING
            )
            SELECT coalesce(jsonb_agg(jsonb_build_object('offer_id', c.offer_id, 'title', c.title,
                                                         'store_id', c.store_id, 'eligible_until', g.eligible_until)
                                      ORDER BY c.offer_id), '[]')
            INTO v_offers
            FROM candidates c JOIN granted g ON g.offer_id = c.offer_id;
        END IF;
    END IF;

    RETURN jsonb_build_object(
        'status', 'recorded',
        'id', v_checkin_id,
        'recorded_at', p_recorded_at,
        'received_at', v_received_at,
        'flags', to_jsonb(v_flags),
        'matches', v_matches,
        'exits', v_exits,
        'offers', v_offers
    );
END;
$$;
