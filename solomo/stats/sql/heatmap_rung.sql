-- solomo_heatmap_rung: a rung of the heatmap's ladder as the widths solomo_heatmap_cell divides by: a column
-- (1.5 size) and a row (√3 size) in Mercator metres, the hexagon's circumradius being size = 100 · √2^k. The one
-- statement of the ladder: the fold of the heatmap rollups (fold_statement.sql) and the raw-row path
-- (solomo/stats/heatmap_cells.py) both call it, so they compute the same float8 widths and put a point in the
-- same cell. One expression and no FROM, so the planner inlines it.
CREATE OR REPLACE FUNCTION solomo_heatmap_rung(
    p_rung integer, OUT column_m double precision, OUT row_m double precision
)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 1.5 * s.size, sqrt(3) * s.size
    FROM (SELECT 100 * power(2::float8, p_rung / 2.0::float8) AS size) AS s
$$;
