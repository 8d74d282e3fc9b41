-- solomo_fences_at: the brand's active fences that a fix at p_point with accuracy p_accuracy matches, the brand's
-- tolerance cap being p_cap. The one statement of the matching rule (DESIGN.md §3): the check-in function
-- (solomo/checkins/sql/record_check_in.sql), the demo's check-ins, the benchmarks and the plan test all call it.
--   * tolerance = least(accuracy, cap);
--   * a polygon matches when ST_DWithin(geom, P, tolerance) (distance 0 inside, the boundary included);
--   * a circle when ST_DWithin(center, P, radius + tolerance): geodesic, exact, not the stored polygon;
--   * both behind the indexed prefilter ST_DWithin(geom, P, tolerance) on (brand_id, geom), which holds for
--     circles because geom is a polygon containing the circle.
-- A single SELECT in a SQL function that is neither STRICT nor VOLATILE: the planner inlines it into the
-- calling query, so the GiST index on (brand_id, geom) drives the lookup wherever it is called.
CREATE OR REPLACE FUNCTION solomo_fences_at(
    p_brand uuid, p_point geography, p_accuracy double precision, p_cap double precision
) RETURNS TABLE (fence_id uuid, store_id uuid, dwell_seconds integer)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT g.id, g.store_id, g.dwell_seconds
    FROM geofences g
    WHERE g.brand_id = p_brand
      AND g.active
      AND ST_DWithin(g.geom, p_point, least(p_accuracy, p_cap))
      AND (g.kind = 'polygon' OR ST_DWithin(g.center, p_point, g.radius_m + least(p_accuracy, p_cap)))
$$
