-- solomo_charge_budget: one request charged to a caller's request budget (solomo/ops/budgets.py), a leaky bucket
-- in the UNLOGGED table request_budgets: the level drains at p_rate a second and a request adds one, unless that
-- would lift it above p_burst. Answers the new level in `charged` (NULL for a refused request, which does not
-- count) and, either way, the level as this call found it in `level` (for Retry-After). With p_force the request is
-- charged even beyond p_burst: a caller that checked the budget first (solomo_budget_level) and charges at the
-- end of its statement, so that a busy row is locked only while the statement commits, has already done the work.
--
-- The clock is clock_timestamp(), read when the charge runs, not now(): charges of one subject queue on the
-- row's lock, and one whose transaction began before the last writer's would otherwise see time run backwards
-- and add p_rate times that much to the level (at a high rate, a whole burst). It is read once, into the row
-- the INSERT offers (excluded.at), and the DO UPDATE uses that: Citus refuses non-immutable functions in the
-- DO UPDATE SET of a distributed table. A charge that then waits on the row's lock finds an `at` that may be
-- later than its own clock: elapsed time is never below zero, and `at` never moves back.
-- The auth middleware calls it for every request it authenticates; the hot routes' request functions
-- (solomo/checkins/sql/checkin_request.sql and its peers in solomo/coupons/sql/) call it in their one statement.
CREATE OR REPLACE FUNCTION solomo_charge_budget(
    p_brand uuid, p_subject text, p_burst integer, p_rate double precision, p_force boolean,
    OUT charged double precision, OUT level double precision
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_now timestamptz;
BEGIN
    INSERT INTO request_budgets AS b (brand_id, subject, level, at)
    VALUES (p_brand, p_subject, 1, clock_timestamp())
    ON CONFLICT (brand_id, subject) DO UPDATE
       SET level = greatest(b.level - greatest(extract(epoch FROM excluded.at - b.at), 0) * p_rate, 0) + 1,
           at = greatest(b.at, excluded.at)
     WHERE p_force
        OR greatest(b.level - greatest(extract(epoch FROM excluded.at - b.at), 0) * p_rate, 0) + 1 <= p_burst
    RETURNING b.level INTO charged;
    IF charged IS NOT NULL THEN
        level := charged - 1;
        RETURN;
    END IF;
    -- Refused: ON CONFLICT locked the row although its WHERE did not update it, so this read is current.
    v_now := clock_timestamp();
    SELECT greatest(b.level - greatest(extract(epoch FROM v_now - b.at), 0) * p_rate, 0) INTO level
      FROM request_budgets b WHERE b.brand_id = p_brand AND b.subject = p_subject;
END;
$$;
