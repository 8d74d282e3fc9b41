-- solomo_stats_fold: folds a brand's journal (stats_pending) into the rollups, with the fold statement of
-- fold_statement.sql taking its events from the journal (the --@include line below; solomo/db/functions.py).
CREATE OR REPLACE FUNCTION solomo_stats_fold(p_brand uuid, p_wait_ms integer DEFAULT 200) RETURNS bigint
LANGUAGE plpgsql AS $fold$
-- Folds the brand's journal into the rollups and answers how many events it folded: 0 when nothing was
-- journalled, NULL when another fold (or a rebuild) held the brand for longer than p_wait_ms.
-- Exactly once: the DELETE … RETURNING takes only events committed before the statement began, and removes
-- them in the transaction that adds them to the rollups. One fold a brand at a time: two upserting the same
-- rows in different orders could deadlock.
DECLARE
    v_events bigint;
    v_until timestamptz := clock_timestamp() + make_interval(secs => greatest(p_wait_ms, 0) / 1000.0);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM stats_pending WHERE brand_id = p_brand) THEN
        RETURN 0;
    END IF;
    WHILE NOT pg_try_advisory_xact_lock(20261123, hashtext(p_brand::text)) LOOP
        IF clock_timestamp() >= v_until THEN
            RETURN NULL;
        END IF;
        PERFORM pg_sleep(0.005);
    END LOOP;
--@include fold_statement.sql EVENTS: DELETE FROM stats_pending WHERE brand_id = p_brand RETURNING *
    RETURN v_events;
END;
$fold$
