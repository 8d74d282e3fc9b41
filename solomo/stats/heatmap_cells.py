"""The heatmap's grids and cells: a fixed ladder of hexagon grids, read from the ``heatmap_cells`` rollup, or from raw
check-ins for a size off the ladder.

**The ladder.** Every grid is PostGIS's ``ST_Hexagon`` layout in Web Mercator (EPSG:3857), flat-topped, with a
circumradius of ``100 · √2^k`` Mercator metres for a rung ``k``. The rollup keeps rungs 0 to 20 (100 m to 102.4 km).
A request's ``cell_m`` (ground metres at the box's middle latitude) becomes ``cell_m / cos(latitude)`` in Mercator
and snaps to the nearest rung in log scale, so a cell is at most 2^¼ (19 %) off the size asked for; the answer's
``cell_m`` is the rung's ground size there. Why not H3: there is no h3 extension in PostgreSQL here, so H3 would move
the fold to Python, outside the transaction that folds the other rollups; and H3's resolutions are √7 ≈ 2.65 times
apart, so a request could be snapped 60 % off. Mercator hexagons keep the fold in SQL and draw exactly the hexagons
the route drew before it had rollups.

**The box.** A cell is in the answer when its hexagon intersects the box (``ST_Intersects`` in EPSG:3857), with all
its check-ins, also those outside the box: the map's view is covered to its edges, and a cell's count does not change
as the map pans. The rollup is read over the box's range of (i, j) widened by a cell; raw check-ins are read over the
box widened by two cells (a hexagon that touches the box lies within that), and both then keep the same cells by the
same test, so the two answer alike. Two boxes side by side share the cells on their common edge.

**The rollup.** A range of brand-local days reads month rows for the calendar months wholly inside it and day rows
for the rest; check-ins are summed and the members' HyperLogLog sketches united before the brand's k
(``heatmap_min_members``) is applied, so k-anonymity holds on the whole range, not per period. ``members`` is the
sketch's estimate: exact for small counts (the explicit representation holds up to 160 members), with a standard
error of about 2.3 % beyond. The read folds the brand's journal first (``stats_range(..., fold=True)``) and is then
one statement.

**Raw rows** serve a size whose rung falls off the ladder: below rung 0 (a ``cell_m`` under about 84 m near the
equator) and above rung 20 (large cells at latitudes beyond about 66°). Both are bounded by the box and range.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.geo.bbox import BBox
from solomo.stats.ranges import DateRange

#: The rungs the rollup keeps (heatmap_cells.rung; the fold statement writes exactly these).
ROLLUP_RUNGS = range(21)
#: Rung 0's circumradius, in Mercator metres; rung k's is this times √2^k.
BASE_M = 100.0
#: The latitude where EPSG:3857's square world ends; beyond it Mercator y runs off to infinity at the poles.
MAX_MERCATOR_LAT = 85.0511287798066
#: The sphere of EPSG:3857.
MERCATOR_R = 6_378_137.0
_SQRT3 = math.sqrt(3)


def rung_size(rung: int) -> float:
    """A rung's circumradius in Mercator metres: as the fold computes it (``100 * power(2, k / 2.0)``)."""
    return BASE_M * math.pow(2.0, rung / 2)


def nearest_rung(mercator_size: float) -> int:
    """The rung nearest a Mercator size in log scale (possibly off the ladder's ends)."""
    return round(2 * math.log2(mercator_size / BASE_M))


def mercator_x(lon: float) -> float:
    return MERCATOR_R * math.radians(lon)


def mercator_y(lat: float) -> float:
    return MERCATOR_R * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def _lon(x: float) -> float:
    return math.degrees(x / MERCATOR_R)


def _lat(y: float) -> float:
    return math.degrees(2 * math.atan(math.exp(y / MERCATOR_R)) - math.pi / 2)


@dataclass(frozen=True)
class Grid:
    """A box (WGS-84) on one rung of the ladder."""

    box: BBox
    rung: int

    @property
    def size(self) -> float:
        """The hexagons' circumradius in Mercator metres."""
        return rung_size(self.rung)

    @property
    def cell_m(self) -> float:
        """The hexagons' circumradius on the ground at the box's middle latitude, to 0.1 m."""
        return round(self.size * math.cos(math.radians((self.box[1] + self.box[3]) / 2)), 1)

    @property
    def from_rollups(self) -> bool:
        return self.rung in ROLLUP_RUNGS

    @property
    def mercator_box(self) -> tuple[float, float, float, float]:
        minlon, minlat, maxlon, maxlat = self.box
        return mercator_x(minlon), mercator_y(minlat), mercator_x(maxlon), mercator_y(maxlat)

    def index_bounds(self) -> tuple[int, int, int, int]:
        """(i0, i1, j0, j1), both ends included: every cell whose hexagon may touch the box, and one more each way.

        A hexagon reaches ``size`` from its centre across and ``√3/2 size`` up and down; centres are at
        x = 1.5 size i and y = √3 size (j + (i odd) / 2).
        """
        xmin, ymin, xmax, ymax = self.mercator_box
        s, h = self.size, self.size * _SQRT3
        return (
            math.floor((xmin - s) / (1.5 * s)) - 1,
            math.ceil((xmax + s) / (1.5 * s)) + 1,
            math.floor((ymin - h / 2) / h - 0.5) - 1,
            math.ceil((ymax + h / 2) / h) + 1,
        )

    def point_box(self) -> BBox:
        """The box widened by two cells (WGS-84): every point of a hexagon that touches the box lies inside it."""
        xmin, ymin, xmax, ymax = self.mercator_box
        margin = 2 * self.size
        return (
            max(-180.0, _lon(xmin - margin)),
            max(-MAX_MERCATOR_LAT, _lat(ymin - margin)),
            min(180.0, _lon(xmax + margin)),
            min(MAX_MERCATOR_LAT, _lat(ymax + margin)),
        )


def months_and_days(start: date, end: date) -> tuple[list[date], list[date]]:
    """The calendar months wholly inside start..end (their first days), and the days of the range outside them."""
    months: list[date] = []
    days: list[date] = []
    day = start
    while day <= end:
        month_end = _next_month(day) - timedelta(days=1)
        if day.day == 1 and month_end <= end:
            months.append(day)
            day = month_end + timedelta(days=1)
        else:
            days.append(day)
            day += timedelta(days=1)
    return months, days


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


# Cells from the rollup: the month rows and the day rows of the range over the box's (i, j) range. Counts add up;
# sketches unite, so the members of a cell are counted once however many periods they came in.
_FROM_ROLLUPS = """
cells AS MATERIALIZED (
    SELECT h.i, h.j, CAST(sum(h.checkins) AS bigint) AS checkins,
           CAST(round(hll_cardinality(hll_union_agg(h.members))) AS bigint) AS members
    FROM (
        SELECT r.i, r.j, r.checkins, r.members
        FROM heatmap_cells r
        WHERE r.brand_id = :brand_id AND r.rung = :rung AND r.grain = 'm' AND r.period = ANY(:months)
          AND r.i BETWEEN :i0 AND :i1 AND r.j BETWEEN :j0 AND :j1
        UNION ALL
        SELECT r.i, r.j, r.checkins, r.members
        FROM heatmap_cells r
        WHERE r.brand_id = :brand_id AND r.rung = :rung AND r.grain = 'd' AND r.period = ANY(:days)
          AND r.i BETWEEN :i0 AND :i1 AND r.j BETWEEN :j0 AND :j1
    ) AS h
    GROUP BY h.i, h.j
)"""

# Cells from raw check-ins, by the grid's rules (solomo_heatmap_cell at solomo_heatmap_rung's widths), as the fold
# computes them. Purged rows keep their coarse point, as the rebuild of the rollup reads them.
_FROM_RAW_ROWS = """
points AS MATERIALIZED (
    -- EPSG:3857 is these two formulas on its sphere (ST_Transform through PROJ cost 0.4 s more per 270,000 points).
    -- MATERIALIZED so each point is projected once.
    SELECT c.member_id,
           6378137 * radians(ST_X(p.g)) AS x,
           6378137 * ln(tan(pi() / 4 + radians(ST_Y(p.g)) / 2)) AS y
    FROM checkins c
    CROSS JOIN LATERAL (SELECT CAST(coalesce(c.location, c.coarse_location) AS geometry) AS g) AS p
    WHERE c.brand_id = :brand_id
      AND c.flags = '{}'
      AND c.recorded_at >= :start AND c.recorded_at < :end
      -- The expression of ix_checkins_heatmap, so the index serves the box.
      AND CAST(coalesce(c.location, c.coarse_location) AS geometry)
          && ST_MakeEnvelope(:minlon, :minlat, :maxlon, :maxlat, 4326)
),
rung AS MATERIALIZED (
    SELECT column_m, row_m FROM solomo_heatmap_rung(CAST(:rung AS integer))
),
cells AS MATERIALIZED (
    SELECT c.cell[1] AS i, c.cell[2] AS j, count(*) AS checkins, count(DISTINCT c.member_id) AS members
    FROM (
        SELECT p.member_id, solomo_heatmap_cell(p.x / r.column_m, p.y / r.row_m) AS cell FROM points p CROSS JOIN rung r
    ) AS c
    GROUP BY c.cell
)"""

# The cells whose hexagon touches the box, and the brand's k; joined from the brand so k comes back when no cell
# passes it. The cells are MATERIALIZED so the box test runs once per cell after the sums, not pushed down into the
# scan of every period's row (16 µs a row for the hexagon and the test: half the statement at 90 days).
_ANSWER = """
WITH {cells},
boxed AS (
    SELECT c.i, c.j, c.checkins, c.members, h.hexagon
    FROM cells c
    CROSS JOIN LATERAL (
        SELECT ST_Hexagon(CAST(:size AS float8), c.i, c.j, ST_SetSRID(ST_MakePoint(0, 0), 3857)) AS hexagon
    ) AS h
    WHERE ST_Intersects(h.hexagon, ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, 3857))
)
SELECT b.heatmap_min_members AS k, c.i, c.j, c.checkins, c.members, {output}
FROM brands b
LEFT JOIN boxed c ON c.members >= b.heatmap_min_members
WHERE b.id = :brand_id
ORDER BY c.i, c.j
"""
_JSON_OUTPUT = "ST_AsGeoJSON(ST_Transform(c.hexagon, 4326), 6) AS geometry"
_CSV_OUTPUT = """
    CAST(round(CAST(ST_X(ST_Transform(ST_Centroid(c.hexagon), 4326)) AS numeric), 6) AS float8) AS center_lon,
    CAST(round(CAST(ST_Y(ST_Transform(ST_Centroid(c.hexagon), 4326)) AS numeric), 6) AS float8) AS center_lat,
    ST_AsText(ST_Transform(c.hexagon, 4326), 6) AS wkt
"""
_QUERIES = {
    (rollups, csv): text(
        _ANSWER.replace("{cells}", _FROM_ROLLUPS if rollups else _FROM_RAW_ROWS).replace(
            "{output}", _CSV_OUTPUT if csv else _JSON_OUTPUT
        )
    )
    for rollups in (True, False)
    for csv in (True, False)
}


async def heatmap_cells(
    session: AsyncSession,
    brand_id: uuid.UUID,
    grid: Grid,
    span: DateRange,
    *,
    csv: bool = False,
    raw: bool = False,
) -> tuple[int, Sequence[Any]]:
    """The brand's k and the grid's cells that pass it, ordered by i then j: from the rollup when the grid's rung is
    on the ladder (fold the brand's journal first), else (or when ``raw``: tests and the bench compare the two) from
    raw check-ins."""
    rollups = grid.from_rollups and not raw
    xmin, ymin, xmax, ymax = grid.mercator_box
    params: dict[str, Any] = {
        "brand_id": brand_id,
        "rung": grid.rung,
        "size": grid.size,
        "xmin": xmin,
        "ymin": ymin,
        "xmax": xmax,
        "ymax": ymax,
    }
    if rollups:
        i0, i1, j0, j1 = grid.index_bounds()
        months, days = months_and_days(span.start, span.end)
        params |= {"months": months, "days": days, "i0": i0, "i1": i1, "j0": j0, "j1": j1}
    else:
        start, end = span.utc_bounds()
        minlon, minlat, maxlon, maxlat = grid.point_box()
        params |= {"start": start, "end": end, "minlon": minlon, "minlat": minlat, "maxlon": maxlon, "maxlat": maxlat}
    rows = (await session.execute(_QUERIES[rollups, csv], params)).all()
    return int(rows[0].k), [r for r in rows if r.i is not None]
