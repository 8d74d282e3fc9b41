-- solomo_heatmap_cell: the hexagon of the heatmap grid that holds a point, as ARRAY[i, j]. Used by the fold of the
-- heatmap rollups (fold_statement.sql) and by the heatmap's raw-row path (solomo/stats/heatmap_cells.py), so the two
-- can never put a point in different cells.
--
-- The grid is ST_Hexagon's layout in EPSG:3857 with circumradius `size`: flat-topped hexagons, cell (i, j) centred
-- at x = 1.5 size i, y = √3 size (j + (i mod 2) / 2), odd columns half a height up. The caller passes the point in
-- units of a column and of a row: p_u = x / (1.5 size), p_v = y / (√3 size), where centres are at u = i and
-- v = j + (i mod 2) / 2. The point lies in column floor(u) or the next; in each, the nearest centre is one rounding
-- of v away, and of those two the nearer (distance² in metres is proportional to 3 du² + 4 dv²) is its hexagon's; a
-- tie goes to the left column. With f = floor(u) and q = f mod 2 (0 or 1, also for negative f):
--   left  = (f,     round(v - q / 2)),        d² ∝ 3 (u - f)² + 4 (v - q / 2 - round(v - q / 2))²
--   right = (f + 1, round(v - (1 - q) / 2)),  d² ∝ 3 (u - f - 1)² + 4 (v - (1 - q) / 2 - round(v - (1 - q) / 2))²
-- round() is float8's, half to even, as everywhere the grid is computed.
--
-- One expression and no FROM, so the planner inlines it: a SQL function called per row would cost microseconds,
-- and the fold calls this for every check-in and every rung of the ladder. Pass columns, not expressions: inlining
-- repeats an argument wherever the body uses it.
CREATE OR REPLACE FUNCTION solomo_heatmap_cell(p_u double precision, p_v double precision) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN 3 * (p_u - floor(p_u)) ^ 2
             + 4 * (p_v - (floor(p_u) - 2 * floor(floor(p_u) / 2)) / 2
                    - round(p_v - (floor(p_u) - 2 * floor(floor(p_u) / 2)) / 2)) ^ 2
             <= 3 * (p_u - floor(p_u) - 1) ^ 2
                + 4 * (p_v - (1 - floor(p_u) + 2 * floor(floor(p_u) / 2)) / 2
                       - round(p_v - (1 - floor(p_u) + 2 * floor(floor(p_u) / 2)) / 2)) ^ 2
        THEN ARRAY[floor(p_u)::integer, round(p_v - (floor(p_u) - 2 * floor(floor(p_u) / 2)) / 2)::integer]
        ELSE ARRAY[floor(p_u)::integer + 1, round(p_v - (1 - floor(p_u) + 2 * floor(floor(p_u) / 2)) / 2)::integer]
    END
$$;
