-- solomo_record_check_in (version 7): the whole check-in in one call (one round trip from the API), answering
-- with the offers the check-in makes claimable. Version 3 found an event's offers through indexes (all-stores
-- offers by brand and trigger; store and fence offers by GIN on their id arrays). Version 4 journals the
-- check-in, first visits and impressions for the stats (stats_pending), keeps each member's earliest verified
-- check-in at the brand and at each store (member_firsts), records the stores a flagged check-in fell in, and
-- the store each impression was shown for. Version 5 checks a late (back-dated) fix against the fixes on both
-- sides of it, lets a late fix fire at most a retroactive enter, and grants an offer once per member and
-- brand-local day unless the offer grants on every visit. Version 6 changes no rule, only the work per call
-- (the database's CPU per check-in): fewer statements (the member lock reads the brand's settings; the rate
-- limit and the speed check are one statement; storing the check-in, the fence states, the matches, the
-- first visits and the stats journal are one statement, the flagged path one too), no new fence state row
-- version when nothing in it changes, each event's store timezone read by primary key instead of hashing
-- every store of the brand, no offer lookup for a fix older than the eligibility window, and no audience
-- check (solomo_offer_admits, a query per offer) for an offer whose existing grant the upsert would keep.
-- Version 7 journals a verified check-in's point (stats_pending.lon, lat) for the heatmap rollups (heatmap_cells).
-- A fix that stays inside still writes its fence state: last_recorded_at moves with it, because the late
-- rules compare against it (a state a newer fix set is never moved back, also when that fix's location
-- was purged) and the member's data export shows it.
--
-- Runs in the caller's transaction. Being a VOLATILE plpgsql function, each statement below takes a
-- fresh snapshot, so after the member row is locked (serialising one member's check-ins) the rate
-- limit, the speed check and the fence state all see every check-in committed before (they are read by
-- statements after the locking one, never by it).
--
-- Answers a jsonb document:
--   {"status": "member_not_found" | "consent_required"}                    nothing stored
--   {"status": "rate_limited", "retry_after": seconds}                       nothing stored
--   {"status": "recorded", "id": …, "flags": [...], "matches": [...], "exits": [...], "offers": [...]}
--
-- Rules (DESIGN.md §3):
--   * matching: solomo_fences_at (solomo/geofences/sql/fences_at.sql): tol = least(accuracy, brand tolerance
--     cap); polygons match when ST_DWithin(fence, P, tol), circles when ST_DWithin(center, P, radius + tol),
--     behind the indexed prefilter ST_DWithin(geom, P, tol) on (brand_id, geom).
--   * flags: low_accuracy (accuracy above the brand limit), mocked, impossible_speed. Speed is measured
--     against the member's unflagged fixes by recorded_at: the previous one, the next one, and the newest
--     one (distance minus both accuracies, over max(|dt|, 30 s), above the brand limit). A fix recorded
--     before the member's newest unflagged fix is "late" (an offline queue, or a back-dated forgery): the
--     next fix is what catches a forgery made far from where the member is, and the newest fix is checked
--     too because the 30 s floor and the accuracies, granted once per pair, would otherwise let a chain of
--     late fixes creep away from it. A flagged check-in is stored but matches nothing and changes no
--     fence state.
--   * events per member and fence: enter when not inside; dwell once after dwell_seconds inside (never
--     when dwell_seconds = 0); exit when a later check-in is outside.
--   * order: fence state moves forward in recorded_at only; the newest unflagged fix decides where the
--     member is. A late fix is stored and reported as matching, fires no dwell and no exit, and changes no
--     state that a newer fix set. It fires a retroactive enter at a fence only when the state knows of no
--     stay there that could include it (no state row, or an exit recorded before the late fix); since the
--     newest fix is then outside that fence, the visit is over, and the state records it as "outside as of
--     the newest fix", so the other fixes of the same queue do not enter it again.
--   * a late fix never grants an offer that the newest fix's place would not explain: it passed the speed
--     check against the newest fix (the member could have been there and still reached where they are
--     now), and its grant window runs from its own recorded_at, not from now (a fix older than the
--     eligibility window grants nothing).
--   * eligibility: an enter/dwell event at a fence makes claimable (for the brand's eligibility window from
--     recorded_at) every active offer of a serving campaign (active, recorded_at inside its window) whose
--     trigger is that event, whose place includes the fence or its store, and whose audience and weekly
--     hours (store-local) admit the member (solomo_offer_admits; marketing consent required). Each offer
--     shown is an impression, once per member, offer and brand-local day.
--   * grants: an offer whose grants are 'daily' is granted once per member and brand-local day (of
--     recorded_at): a later visit that day renews nothing, neither the window nor the claim. One whose
--     grants are 'every_visit' is granted again by every event recorded after its last grant. A grant
--     never moves back in time, and each grant allows one claim (solomo_claim_offer); the offer answered
--     here is only one this check-in granted.
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
    v_too_fast boolean;
    v_newest_at timestamptz;
    v_late boolean;
    v_flags text[] := '{}';
    v_checkin_id uuid;
    v_received_at timestamptz;
    v_matches jsonb := '[]';
    v_exits jsonb := '[]';
BEGIN
    -- The member row lock and the brand's settings in one statement (the brand row is only read).
    SELECT m.consent_location, b.tolerance_cap_m, b.accuracy_limit_m, b.speed_limit_kmh, b.checkin_min_interval_s,
           b.timezone, b.eligibility_window_min
    INTO v_consent, v_tolerance_cap, v_accuracy_limit, v_speed_limit, v_interval, v_timezone, v_window
    FROM members m
    JOIN brands b ON b.id = m.brand_id
    WHERE m.id = p_member AND m.brand_id = p_brand AND m.merged_into_id IS NULL AND m.erased_at IS NULL
    FOR UPDATE OF m;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('status', 'member_not_found');
    END IF;
    IF NOT v_consent THEN
        RETURN jsonb_build_object('status', 'consent_required');
    END IF;

    -- After the lock, one statement (one fresh snapshot) reads the rate limit and the speed check.
    -- Rate limit on the server's clock: a client cannot make room by back-dating recorded_at (one probe on
    -- (brand_id, member_id, received_at)). Speed: three index probes on (brand_id, member_id, recorded_at): the
    -- fix before, the fix after, the newest. When this fix is the newest, the last two find nothing at once.
    -- A rate-limited call answers before using the speed figures.
    SELECT (SELECT c.received_at
              FROM checkins c
             WHERE c.brand_id = p_brand AND c.member_id = p_member
             ORDER BY c.received_at DESC
             LIMIT 1),
           coalesce(bool_or(greatest(0, ST_Distance(n.location, v_point) - n.accuracy_m - p_accuracy)
                            / greatest(abs(extract(epoch FROM p_recorded_at - n.recorded_at)), 30) * 3.6
                            > v_speed_limit), false),
           max(n.recorded_at) FILTER (WHERE n.recorded_at > p_recorded_at)
      INTO v_last_received, v_too_fast, v_newest_at
      FROM (
        (SELECT c.location, c.accuracy_m, c.recorded_at
           FROM checkins c
          WHERE c.brand_id = p_brand AND c.member_id = p_member AND c.recorded_at <= p_recorded_at
            AND c.flags = '{}' AND c.location IS NOT NULL
          ORDER BY c.recorded_at DESC
          LIMIT 1)
        UNION ALL
        (SELECT c.location, c.accuracy_m, c.recorded_at
           FROM checkins c
          WHERE c.brand_id = p_brand AND c.member_id = p_member AND c.recorded_at > p_recorded_at
            AND c.flags = '{}' AND c.location IS NOT NULL
          ORDER BY c.recorded_at
          LIMIT 1)
        UNION ALL
        (SELECT c.location, c.accuracy_m, c.recorded_at
           FROM checkins c
          WHERE c.brand_id = p_brand AND c.member_id = p_member AND c.recorded_at > p_recorded_at
            AND c.flags = '{}' AND c.location IS NOT NULL
          ORDER BY c.recorded_at DESC
          LIMIT 1)
      ) AS n;
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
    IF v_too_fast THEN
        v_flags := v_flags || 'impossible_speed'::text;
    END IF;
    v_late := v_newest_at IS NOT NULL;

    IF v_flags <> '{}' THEN
        -- Not a visit, so no matches; the stores it fell in (same geometry test) are kept for the stats. The
        -- check-in and its journal row in one statement.
        WITH stored AS (
            INSERT INTO checkins (brand_id, member_id, recorded_at, location, accuracy_m, mocked, source, flags,
                                  flagged_store_ids)
            VALUES (p_brand, p_member, p_recorded_at, v_point, p_accuracy, p_mocked, p_source, v_flags,
                    (SELECT coalesce(array_agg(DISTINCT f.store_id), '{}')
                       FROM solomo_fences_at(p_brand, v_point, p_accuracy, v_tolerance_cap) f))
            RETURNING id, received_at, flagged_store_ids
        ),
        journaled AS (
            INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, member_id)
            SELECT p_brand, 'flagged', 1, p_recorded_at, true, s.flagged_store_ids, p_member FROM stored s
        )
        SELECT s.id, s.received_at INTO v_checkin_id, v_received_at FROM stored s;
    ELSE
        -- One statement stores the check-in, moves the fence states, logs the matches and journals the stats
        -- (data-modifying CTEs run exactly once, whether or not the final SELECT reads them).
        WITH stored AS (
            INSERT INTO checkins (brand_id, member_id, recorded_at, location, accuracy_m, mocked, source, flags,
                                  flagged_store_ids)
            VALUES (p_brand, p_member, p_recorded_at, v_point, p_accuracy, p_mocked, p_source, v_flags, NULL)
            RETURNING id, received_at
        ),
        matched AS (
            SELECT f.fence_id, f.store_id, f.dwell_seconds
            FROM solomo_fences_at(p_brand, v_point, p_accuracy, v_tolerance_cap) f
        ),
        decided AS (
            SELECT m.fence_id, m.store_id, m.dwell_seconds, l.late,
                   CASE
                       -- Late: a retroactive enter only where no known stay could include this fix.
                       WHEN l.late THEN
                           CASE WHEN s.member_id IS NULL OR (NOT s.inside AND s.last_recorded_at < p_recorded_at)
                                THEN 'enter' END
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
            LEFT JOIN fence_states s ON s.brand_id = p_brand AND s.member_id = p_member AND s.fence_id = m.fence_id
            -- A state a newer fix set is never moved back, even when this fix is not late for the member
            -- (its newest fix purged, say).
            CROSS JOIN LATERAL (SELECT v_late OR coalesce(p_recorded_at < s.last_recorded_at, false) AS late) AS l
        ),
        moved AS (
            INSERT INTO fence_states AS s (brand_id, member_id, fence_id, inside, entered_at, dwell_fired, last_recorded_at)
            SELECT p_brand, p_member, d.fence_id, true, d.entered_at, d.dwell_fired, p_recorded_at
            FROM decided d
            WHERE NOT d.late
            UNION ALL
            -- A late enter shows a visit that was over by the newest fix (which is outside this fence, or the
            -- state would say inside): outside as of the newest fix, so the queue's other fixes enter no more.
            SELECT p_brand, p_member, d.fence_id, false, NULL, false, v_newest_at
            FROM decided d
            WHERE d.late AND d.event = 'enter'
            ON CONFLICT (brand_id, member_id, fence_id) DO UPDATE
               SET inside = excluded.inside, entered_at = excluded.entered_at, dwell_fired = excluded.dwell_fired,
                   last_recorded_at = excluded.last_recorded_at
             -- No new row version when nothing in the row changes (a fix repeated at the same recorded_at).
             WHERE (s.inside, s.entered_at, s.dwell_fired, s.last_recorded_at)
                   IS DISTINCT FROM (excluded.inside, excluded.entered_at, excluded.dwell_fired, excluded.last_recorded_at)
        ),
        exited AS (
            UPDATE fence_states s
               SET inside = false, entered_at = NULL, dwell_fired = false, last_recorded_at = p_recorded_at
             FROM geofences g
            WHERE NOT v_late
              AND s.member_id = p_member AND s.brand_id = p_brand AND s.inside
              AND s.last_recorded_at <= p_recorded_at
              AND g.brand_id = p_brand AND g.id = s.fence_id
              AND s.fence_id NOT IN (SELECT d.fence_id FROM decided d)
            RETURNING s.fence_id, g.store_id
        ),
        logged AS (
            INSERT INTO checkin_matches (checkin_id, recorded_at, brand_id, member_id, fence_id, store_id, event)
            SELECT c.id, p_recorded_at, p_brand, p_member, d.fence_id, d.store_id, d.event FROM stored c, decided d
            UNION ALL
            SELECT c.id, p_recorded_at, p_brand, p_member, e.fence_id, e.store_id, 'exit' FROM stored c, exited e
        ),
        -- The stats: this check-in at the brand and at each store it is in, and a new member wherever it is
        -- the member's earliest verified check-in. One arriving before the recorded first moves the count
        -- (-1 on the old first's day, +1 on this one's), so the totals equal a rebuild from raw rows. The
        -- member row lock taken above serialises this read-then-write per member. A member whose firsts are
        -- all earlier finds no row in earlier, so the upsert writes nothing and the journal gets one row.
        stores AS (
            SELECT ARRAY(SELECT DISTINCT d.store_id FROM decided d ORDER BY d.store_id) AS ids
        ),
        places AS (
            SELECT '00000000-0000-0000-0000-000000000000'::uuid AS store_key
            UNION ALL
            SELECT unnest(st.ids) FROM stores st
        ),
        earlier AS (
            SELECT p.store_key, f.first_at
            FROM places p
            LEFT JOIN member_firsts f ON f.brand_id = p_brand AND f.member_id = p_member AND f.store_key = p.store_key
            WHERE f.first_at IS NULL OR p_recorded_at < f.first_at
        ),
        saved AS (
            INSERT INTO member_firsts AS f (brand_id, member_id, store_key, first_at)
            SELECT p_brand, p_member, e.store_key, p_recorded_at FROM earlier e
            ON CONFLICT (brand_id, member_id, store_key) DO UPDATE SET first_at = excluded.first_at
        ),
        journaled AS (
            INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, member_id, lon, lat)
            SELECT p_brand, 'checkin', 1, p_recorded_at, true, st.ids, p_member, p_lon, p_lat FROM stores st
            UNION ALL
            SELECT p_brand, 'first', m.n, m.at, e.store_key = '00000000-0000-0000-0000-000000000000',
                   CASE WHEN e.store_key = '00000000-0000-0000-0000-000000000000' THEN '{}' ELSE ARRAY[e.store_key] END,
                   p_member, NULL, NULL
            FROM earlier e
            CROSS JOIN LATERAL (
                SELECT 1 AS n, p_recorded_at AS at
                UNION ALL
                SELECT -1, e.first_at WHERE e.first_at IS NOT NULL
            ) AS m
        )
        SELECT c.id, c.received_at,
            coalesce((SELECT jsonb_agg(jsonb_build_object('fence_id', d.fence_id, 'store_id', d.store_id, 'event', d.event)
                                       ORDER BY d.fence_id) FROM decided d), '[]'),
            coalesce((SELECT jsonb_agg(jsonb_build_object('fence_id', e.fence_id, 'store_id', e.store_id)
                                       ORDER BY e.fence_id) FROM exited e), '[]')
        INTO v_checkin_id, v_received_at, v_matches, v_exits
        FROM stored c;

        -- Offers, only when an event fired (staying inside grants nothing new) and the fix is inside the
        -- eligibility window (an older one grants nothing, so its offers are not looked up). The fired events
        -- arrive as a small array, so the offers are looked up per event rather than joined against a CTE
        -- estimate; each event's store timezone is one primary-key probe (a join against the estimate would
        -- hash every store of the brand).
        IF p_recorded_at + make_interval(mins => v_window) > now()
           AND jsonb_path_exists(v_matches, '$[*] ? (@.event != null)') THEN
            WITH fired AS MATERIALIZED (
                SELECT x.fence_id, x.store_id, x.event,
                       (SELECT s.timezone FROM stores s WHERE s.brand_id = p_brand AND s.id = x.store_id) AS timezone
                FROM jsonb_to_recordset(v_matches) AS x(fence_id uuid, store_id uuid, event text)
                WHERE x.event IS NOT NULL
            ),
            candidates AS (
                SELECT DISTINCT ON (o.id) o.id AS offer_id, o.title, o.grants, f.store_id
                FROM fired f
                JOIN members m ON m.brand_id = p_brand AND m.id = p_member
                CROSS JOIN LATERAL (
                    SELECT o.* FROM offers o
                     WHERE o.brand_id = p_brand AND o.target = 'all_stores' AND o.active AND o.trigger = f.event
                    UNION ALL
                    SELECT o.* FROM offers o
                     WHERE o.store_ids @> ARRAY[f.store_id] AND o.target = 'stores' AND o.active
                       AND o.brand_id = p_brand AND o.trigger = f.event
                    UNION ALL
                    SELECT o.* FROM offers o
                     WHERE o.geofence_ids @> ARRAY[f.fence_id] AND o.target = 'geofences' AND o.active
                       AND o.brand_id = p_brand AND o.trigger = f.event
                ) AS o
                JOIN campaigns c ON c.brand_id = p_brand AND c.id = o.campaign_id AND c.status = 'active'
                                AND p_recorded_at >= c.starts_at AND p_recorded_at < c.ends_at
                -- An offer whose grant the upsert below would keep as it is (the same test as its WHERE, on the
                -- same primary-key row) yields nothing, so it is dropped before the audience check.
                WHERE NOT EXISTS (
                        SELECT 1 FROM offer_eligibility e
                         WHERE e.brand_id = p_brand AND e.member_id = p_member AND e.offer_id = o.id
                           AND NOT coalesce(p_recorded_at > e.granted_at
                                            AND (o.grants <> 'daily' OR e.grant_day IS NULL
                                                 OR (p_recorded_at AT TIME ZONE v_timezone)::date > e.grant_day),
                                            false))
                  AND solomo_offer_admits(o.audience_tags, o.audience_tiers, o.audience_provider, o.min_followers,
                                          o.joined_within_days, o.weekly_hours, m.brand_id, m.id, m.tags, m.tier,
                                          m.joined_at, m.consent_marketing, p_recorded_at, f.timezone)
                ORDER BY o.id, f.store_id
            ),
            -- One grant per member, offer and brand-local day (grant_day) for 'daily' offers; 'every_visit'
            -- offers carry no grant_day and are granted again by any later event. A grant that exists stands
            -- unless the new one is later (and of a later day), so a late fix or a second visit that day
            -- neither renews the claim nor stretches the window. The decision reads only the conflicting row
            -- (the primary-key probe the upsert makes anyway), so it costs no extra lookup per offer.
            granted AS (
                INSERT INTO offer_eligibility AS e
                    (brand_id, member_id, offer_id, store_id, checkin_id, granted_at, eligible_until, grant_day)
                SELECT p_brand, p_member, c.offer_id, c.store_id, v_checkin_id, p_recorded_at,
                       p_recorded_at + make_interval(mins => v_window),
                       CASE WHEN c.grants = 'daily' THEN (p_recorded_at AT TIME ZONE v_timezone)::date END
                FROM candidates c
                WHERE p_recorded_at + make_interval(mins => v_window) > now()
                ON CONFLICT (brand_id, member_id, offer_id) DO UPDATE
                   SET eligible_until = excluded.eligible_until, store_id = excluded.store_id,
                       checkin_id = excluded.checkin_id, granted_at = excluded.granted_at,
                       grant_day = excluded.grant_day, claimed_at = NULL
                 WHERE excluded.granted_at > e.granted_at
                   AND (excluded.grant_day IS NULL OR e.grant_day IS NULL OR excluded.grant_day > e.grant_day)
                RETURNING e.offer_id, e.eligible_until
            ),
            shown AS (
                INSERT INTO offer_impressions (brand_id, member_id, offer_id, day, source, shown_at, store_id)
                SELECT p_brand, p_member, g.offer_id, (now() AT TIME ZONE v_timezone)::date, 'checkin', now(),
                       c.store_id
                FROM granted g JOIN candidates c ON c.offer_id = g.offer_id
                ON CONFLICT (brand_id, member_id, offer_id, day) DO NOTHING
                RETURNING offer_id, store_id, shown_at
            ),
            journaled AS (
                INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, offer_id, member_id)
                SELECT p_brand, 'impression', 1, s.shown_at, true, ARRAY[s.store_id], s.offer_id, p_member
                FROM shown s
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
