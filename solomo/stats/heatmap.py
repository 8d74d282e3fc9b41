"""``GET /v1/stats/checkins/heatmap``: verified check-ins counted on a hexagon grid, as GeoJSON or CSV.

The grid is PostGIS's ``ST_HexagonGrid`` layout in Web Mercator (EPSG:3857), its size scaled by 1/cos of the
box's middle latitude so a cell is about ``cell_m`` on the ground there. Each point's cell is computed from its
coordinates and only cells with points are built, rather than generating the whole grid over the box and
joining the points to it with ``ST_Intersects``: on 22,000 check-ins over a 1,600-cell grid the join took
5.3 s, the arithmetic 80 ms. Cells with fewer than the brand's ``heatmap_min_members`` distinct members are
left out (k-anonymity).

The grid is WGS-84's: asked for in GCJ-02 or BD-09 (``crs``), the box is converted first and the hexagons (and the
CSV's centres and WKT) after, so each cell counts what lies in it on the ground and is drawn where it is on the
caller's map (a cell then is a hexagon bent by a fraction of a metre).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Annotated, Any, cast

import msgspec
import shapely
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import allow
from solomo.auth.middleware import principal_of
from solomo.auth.principal import Role
from solomo.coordinates import CrsQuery, answer_in, coordinates_in
from solomo.db.transactions import REPORT_QUERIES
from solomo.errors import invalid
from solomo.geo.bbox import BBox, parse_bbox
from solomo.geo.crs import WGS84_CRS, Crs
from solomo.geo.errors import GeometryError
from solomo.stats.controllers import FromDate, ToDate
from solomo.stats.csv_response import csv_response, wants_csv
from solomo.stats.ranges import DateRange, stats_range

#: How far a box may reach in longitude and in latitude (degrees).
MAX_SPAN_DEG = 5.0
#: Cells a grid over the box may have, estimated from areas.
MAX_CELLS = 20_000
MIN_CELL_M = 50
MAX_CELL_M = 50_000
#: The latitude where EPSG:3857's square world ends; beyond it Mercator y runs off to infinity at the poles.
MAX_MERCATOR_LAT = 85.0511287798066
#: The sphere of EPSG:3857.
MERCATOR_R = 6_378_137.0
#: The area of a regular hexagon of circumradius 1.
_HEXAGON_AREA = 3 * math.sqrt(3) / 2

CSV_COLUMNS = ("center_lon", "center_lat", "checkins", "members", "wkt")
#: Hexagons, their centres and their WKT are written to 6 decimals (10 cm), in any crs.
_DECIMALS = 6

MARKETERS = allow(Role.ADMIN, Role.MARKETER)

# Cell (i, j) of ST_Hexagon's layout is centred at x = 1.5 size i, y = height (j + (i odd) / 2), with
# height = size √3: flat-topped hexagons, odd columns half a height up. A point lies in one of two columns (the
# one at or left of it and the next); in each, the nearest centre is one rounding away, and of those two the
# nearer centre is its hexagon's.
_CELLS = """
-- Cast once: an untyped parameter next to a literal like 1.5 would be taken as numeric, slow per row.
WITH grid AS (SELECT CAST(:size AS float8) AS size, CAST(:size AS float8) * sqrt(3) AS height),
points AS MATERIALIZED (
    -- EPSG:3857 is these two formulas on its sphere; ST_Transform through PROJ cost 0.4 s more per 270,000
    -- points. MATERIALIZED so each point is projected once, not once for every use of x and y below.
    SELECT c.member_id,
           6378137 * radians(ST_X(p.g)) AS x,
           6378137 * ln(tan(pi() / 4 + radians(ST_Y(p.g)) / 2)) AS y
    FROM checkins c
    CROSS JOIN LATERAL (SELECT CAST(coalesce(c.location, c.coarse_location) AS geometry) AS g) AS p
    WHERE c.brand_id = :brand_id
      AND c.flags = '{}'
      AND c.recorded_at >= :start AND c.recorded_at < :end
      -- The expression of ix_checkins_heatmap, so the index serves the box; purged rows keep their coarse point.
      AND CAST(coalesce(c.location, c.coarse_location) AS geometry)
          && ST_MakeEnvelope(:minlon, :minlat, :maxlon, :maxlat, 4326)
),
columns AS (
    SELECT member_id, x, y, i0, i0 + 1 AS i1, CAST(abs(i0 % 2) AS float8) AS odd0
    FROM (SELECT member_id, x, y, CAST(floor(x / (1.5 * grid.size)) AS integer) AS i0 FROM points, grid) AS p
),
candidates AS (
    SELECT member_id, x, y, i0, i1, odd0,
           round(y / grid.height - odd0 / 2) AS j0,
           round(y / grid.height - (1 - odd0) / 2) AS j1
    FROM columns, grid
),
cells AS (
    SELECT member_id,
           CASE WHEN d0 <= d1 THEN i0 ELSE i1 END AS i,
           CAST(CASE WHEN d0 <= d1 THEN j0 ELSE j1 END AS integer) AS j
    FROM (
        SELECT member_id, i0, i1, j0, j1,
               (x - 1.5 * grid.size * i0) ^ 2 + (y - grid.height * (j0 + odd0 / 2)) ^ 2 AS d0,
               (x - 1.5 * grid.size * i1) ^ 2 + (y - grid.height * (j1 + (1 - odd0) / 2)) ^ 2 AS d1
        FROM candidates, grid
    ) AS d
),
counted AS (
    SELECT i, j, count(*) AS checkins, count(DISTINCT member_id) AS members
    FROM cells
    GROUP BY i, j
)
-- Joined from the brand so its k comes back even when no cell passes.
SELECT b.heatmap_min_members AS k, c.i, c.j, c.checkins, c.members, {output}
FROM brands b
LEFT JOIN counted c ON c.members >= b.heatmap_min_members
CROSS JOIN grid
CROSS JOIN LATERAL (
    SELECT ST_Hexagon(grid.size, c.i, c.j, ST_SetSRID(ST_MakePoint(0, 0), 3857)) AS hexagon
) AS h
WHERE b.id = :brand_id
ORDER BY c.i, c.j
"""
_JSON_OUTPUT = "ST_AsGeoJSON(ST_Transform(h.hexagon, 4326), 6) AS geometry"
_CSV_OUTPUT = """
    CAST(round(CAST(ST_X(ST_Transform(ST_Centroid(h.hexagon), 4326)) AS numeric), 6) AS float8) AS center_lon,
    CAST(round(CAST(ST_Y(ST_Transform(ST_Centroid(h.hexagon), 4326)) AS numeric), 6) AS float8) AS center_lat,
    ST_AsText(ST_Transform(h.hexagon, 4326), 6) AS wkt
"""
_JSON_QUERY = text(_CELLS.replace("{output}", _JSON_OUTPUT))
_CSV_QUERY = text(_CELLS.replace("{output}", _CSV_OUTPUT))


class HexagonPolygon(msgspec.Struct, tag_field="type", tag="Polygon"):
    coordinates: Annotated[
        list[list[list[float]]],
        msgspec.Meta(description="One closed ring of 7 [longitude, latitude] positions, rounded to 6 decimals."),
    ]


class HeatmapCellProperties(msgspec.Struct):
    checkins: Annotated[int, msgspec.Meta(description="Verified check-ins in the cell.")]
    members: Annotated[int, msgspec.Meta(description="Distinct members among them (at least `min_members`).")]


class HeatmapCell(msgspec.Struct, tag_field="type", tag="Feature"):
    geometry: HexagonPolygon
    properties: HeatmapCellProperties


class CheckinHeatmap(msgspec.Struct, tag_field="type", tag="FeatureCollection", kw_only=True):
    """A GeoJSON FeatureCollection; ``from``, ``to``, ``cell_m`` and ``min_members`` are foreign members."""

    features: list[HeatmapCell]
    from_: date = msgspec.field(name="from")
    to: date
    cell_m: float
    min_members: Annotated[int, msgspec.Meta(description="k: cells with fewer distinct members are left out.")]


class Grid(msgspec.Struct, frozen=True):
    """The box and the hexagon size (circumradius) in EPSG:3857 units."""

    box: BBox
    size: float


def _mercator_y(lat: float) -> float:
    return MERCATOR_R * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def heatmap_grid(raw_bbox: str, cell_m: float, crs: Crs = WGS84_CRS) -> Grid:
    """The grid asked for (``raw_bbox`` in ``crs``, the grid in WGS-84), or a 422 naming ``bbox`` or ``cell_m``; no
    database needed."""
    try:
        # Parsed once without the size limit, so a box across the antimeridian is told to split, not to shrink.
        boxes = parse_bbox(raw_bbox, max_span_deg=360, crs=crs)
        if len(boxes) > 1:
            raise invalid(
                "bbox",
                "the box crosses the antimeridian (minlon > maxlon); split it at ±180 into two requests",
                source="query",
            )
        parse_bbox(raw_bbox, max_span_deg=MAX_SPAN_DEG)
    except GeometryError as exc:
        raise invalid("bbox", exc.message, source="query") from exc
    minlon, minlat, maxlon, maxlat = box = boxes[0]
    if max(abs(minlat), abs(maxlat)) > MAX_MERCATOR_LAT:
        raise invalid("bbox", f"the heatmap covers latitudes up to ±{MAX_MERCATOR_LAT:.4f}°", source="query")
    # Mercator stretches lengths by 1/cos(latitude): this makes a cell cell_m across on the ground mid-box.
    size = cell_m / math.cos(math.radians((minlat + maxlat) / 2))
    area = MERCATOR_R * math.radians(maxlon - minlon) * (_mercator_y(maxlat) - _mercator_y(minlat))
    cells = math.ceil(area / (_HEXAGON_AREA * size * size))
    if cells > MAX_CELLS:
        raise invalid(
            "cell_m",
            f"a {cell_m:g} m grid over this bbox would have about {cells:,} cells, more than {MAX_CELLS:,}; "
            "use a larger cell_m or a smaller bbox",
            source="query",
        )
    return Grid(box, size)


async def heatmap_cells(
    session: AsyncSession, brand_id: uuid.UUID, grid: Grid, span: DateRange, *, csv: bool = False
) -> tuple[int, Sequence[Any]]:
    """The brand's k and its cells that pass it, ordered by the grid's i then j."""
    start, end = span.utc_bounds()
    minlon, minlat, maxlon, maxlat = grid.box
    params = {
        "brand_id": brand_id,
        "start": start,
        "end": end,
        "minlon": minlon,
        "minlat": minlat,
        "maxlon": maxlon,
        "maxlat": maxlat,
        "size": grid.size,
    }
    rows = (await session.execute(_CSV_QUERY if csv else _JSON_QUERY, params)).all()
    k = int(rows[0].k)
    return k, [r for r in rows if r.i is not None]


def _csv_lines(rows: Sequence[Any], crs: Crs) -> Iterable[list[Any]]:
    """The CSV's lines, their centre and WKT polygon in ``crs`` (all the cells' points converted in one pass)."""
    if crs == WGS84_CRS:
        return ([r.center_lon, r.center_lat, r.checkins, r.members, r.wkt] for r in rows)
    shapes = [[[[r.center_lon, r.center_lat]], shapely.get_coordinates(shapely.from_wkt(r.wkt)).tolist()] for r in rows]
    converted = coordinates_in(crs, shapes, decimals=_DECIMALS)
    return (
        [center[0], center[1], r.checkins, r.members, _wkt_polygon(ring)]
        for r, ([center], ring) in zip(rows, converted, strict=True)
    )


def _wkt_polygon(ring: list[list[float]]) -> str:
    """As PostGIS's ``ST_AsText`` writes it, so the CSV reads the same in every crs."""
    return "POLYGON((" + ",".join(f"{lon} {lat}" for lon, lat in ring) + "))"


def _features(rows: Iterable[Any]) -> list[HeatmapCell]:
    return [
        HeatmapCell(
            geometry=msgspec.json.decode(r.geometry, type=HexagonPolygon),
            properties=HeatmapCellProperties(checkins=r.checkins, members=r.members),
        )
        for r in rows
    ]


class HeatmapController(Controller):
    path = "/v1/stats/checkins/heatmap"
    tags = ["Stats"]
    # Reports scan months of rollups: their transaction gets the report statement timeout.
    opt = {REPORT_QUERIES: True}

    @get(
        guards=[MARKETERS],
        summary="Verified check-ins on a hexagon grid (GeoJSON)",
        description=(
            "Hexagons about `cell_m` metres in size (circumradius, measured at the box's middle latitude) counting "
            "verified check-ins in the box and date range, with their distinct members. Hexagons with fewer "
            "distinct members than the brand's `heatmap_min_members` are left out. At most "
            f"{MAX_CELLS:,} cells over the box. Send `Accept: text/csv` for the cells as CSV "
            f"({', '.join(CSV_COLUMNS)}), with a header line."
        ),
    )
    async def checkin_heatmap(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        bbox: Annotated[
            str,
            QueryParameter(
                description=(
                    f"minlon,minlat,maxlon,maxlat, in the `crs` (WGS 84 by default), at most {MAX_SPAN_DEG:g}° each "
                    "way. A box across the antimeridian is refused: send its two halves as two requests."
                ),
                max_length=200,
            ),
        ],
        cell_m: Annotated[
            float,
            QueryParameter(
                ge=MIN_CELL_M, le=MAX_CELL_M, description="Hexagon size in metres (edge length = circumradius)."
            ),
        ] = 500.0,
        from_date: FromDate = None,
        to_date: ToDate = None,
        crs: CrsQuery = "wgs84",
    ) -> CheckinHeatmap:
        grid = heatmap_grid(bbox, cell_m, crs)
        brand_id = principal_of(request).brand_id
        span = await stats_range(db_session, brand_id, from_date, to_date)
        if wants_csv(request):
            _, rows = await heatmap_cells(db_session, brand_id, grid, span, csv=True)
            return cast("CheckinHeatmap", csv_response(CSV_COLUMNS, _csv_lines(rows, crs), "checkin-heatmap"))
        k, rows = await heatmap_cells(db_session, brand_id, grid, span)
        heatmap = CheckinHeatmap(features=_features(rows), from_=span.start, to=span.end, cell_m=cell_m, min_members=k)
        return answer_in(crs, heatmap, decimals=_DECIMALS)
