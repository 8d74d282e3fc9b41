-- solomo_in_weekly_hours: whether a store-local time falls in an offer's weekly hours.
-- hours: [{"days": ["mon", …], "start": "HH:MM", "end": "HH:MM"}]; an end before the start runs past midnight
-- (22:00–02:00 listed for "fri" covers Friday 22:00 to Saturday 02:00); "24:00" is the end of the day.
-- local: the time on the store's wall clock (timestamptz AT TIME ZONE store timezone), so DST is already applied.
-- In plpgsql, whose plan is kept for the session: a SQL function with a subquery is not inlined, and is planned
-- again on every call.
CREATE OR REPLACE FUNCTION solomo_in_weekly_hours(hours jsonb, local timestamp) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1
        FROM jsonb_array_elements(hours) AS w,
             LATERAL (SELECT split_part(w->>'start', ':', 1)::int * 60 + split_part(w->>'start', ':', 2)::int AS s,
                             split_part(w->>'end', ':', 1)::int * 60 + split_part(w->>'end', ':', 2)::int AS e) AS t,
             LATERAL (SELECT extract(hour FROM local)::int * 60 + extract(minute FROM local)::int AS now_min,
                             lower(to_char(local, 'Dy')) AS today,
                             lower(to_char(local - interval '1 day', 'Dy')) AS yesterday) AS c
        WHERE (t.s < t.e AND w->'days' ? c.today AND c.now_min >= t.s AND c.now_min < t.e)
           OR (t.s > t.e AND ((w->'days' ? c.today AND c.now_min >= t.s)
                              OR (w->'days' ? c.yesterday AND c.now_min < t.e)))
    );
END;
$$;
