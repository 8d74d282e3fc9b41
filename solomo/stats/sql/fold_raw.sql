-- solomo_stats_fold_raw: the rebuild's fold, with the fold statement of fold_statement.sql taking its events
-- from the raw rows (solomo_stats_raw_events, raw_events.sql; the --@include line below).
CREATE OR REPLACE FUNCTION solomo_stats_fold_raw(p_brand uuid) RETURNS bigint
LANGUAGE plpgsql AS $fold$
-- Adds the brand's whole history, derived from its raw rows, to the rollups; answers the events added. For
-- the rebuild, which empties the brand's rollups and journal first and holds the brand's fold lock.
DECLARE
    v_events bigint;
BEGIN
--@include fold_statement.sql EVENTS: SELECT * FROM solomo_stats_raw_events(p_brand)
    RETURN v_events;
END;
$fold$
