"""``GET /v1/stats/checkins/heatmap``: verified check-ins counted on a hexagon grid, as GeoJSON or CSV.

The grids are a fixed ladder of hexagon sizes in Web Mercator, kept as rollups (``heatmap_cells``); a request's
``cell_m`` snaps to the nearest rung, and its cells come from the rollup, or from raw check-ins for a size off the
ladder (solomo/stats/heatmap_cells.py, which says why). Cells with fewer than the brand's ``heatmap_min_members``
distinct members are left out (k-anonymity).

The grid is WGS-84's: asked for in GCJ-02 or BD-09 (``crs``), the box is converted first and the hexagons (and the
CSV's centres and WKT) after, so each cell counts what lies in it on the ground and is drawn where it is on the
caller's map (a cell then is a hexagon bent by a fraction of a metre).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Annotated, Any, cast

import msgspec
import shapely
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import allow
from solomo.auth.middleware import principal_of
from solomo.auth.principal import Role
from solomo.coordinates import CrsQuery, answer_in, coordinates_in
from solomo.db.transactions import REPORT_QUERIES
from solomo.errors import invalid
from solomo.geo.bbox import parse_bbox
from solomo.geo.crs import WGS84_CRS, Crs
from solomo.geo.errors import GeometryError
from solomo.stats.controllers import FromDate, ToDate
from solomo.stats.csv_response import csv_response, wants_csv
from solomo.stats.heatmap_cells import (
    BASE_M,
    MAX_MERCATOR_LAT,
    ROLLUP_RUNGS,
    Grid,
    heatmap_cells,
    mercator_x,
    mercator_y,
    nearest_rung,
    rung_size,
)
from solomo.stats.ranges import stats_range

#: How far a box may reach in longitude and in latitude (degrees).
MAX_SPAN_DEG = 5.0
#: Cells a grid over the box may have, estimated from areas.
MAX_CELLS = 20_000
MIN_CELL_M = 50
MAX_CELL_M = 50_000
#: The area of a regular hexagon of circumradius 1.
_HEXAGON_AREA = 3 * math.sqrt(3) / 2

CSV_COLUMNS = ("center_lon", "center_lat", "checkins", "members", "wkt")
#: Hexagons, their centres and their WKT are written to 6 decimals (10 cm), in any crs.
_DECIMALS = 6

MARKETERS = allow(Role.ADMIN, Role.MARKETER)


class HexagonPolygon(msgspec.Struct, tag_field="type", tag="Polygon"):
    coordinates: Annotated[
        list[list[list[float]]],
        msgspec.Meta(description="One closed ring of 7 [longitude, latitude] positions, rounded to 6 decimals."),
    ]


class HeatmapCellProperties(msgspec.Struct):
    checkins: Annotated[int, msgspec.Meta(description="Verified check-ins in the cell.")]
    members: Annotated[
        int,
        msgspec.Meta(
            description="Distinct members among them (at least `min_members`): a HyperLogLog estimate, exact for small "
            "counts (up to 160 members), with a standard error of about 2.3 % beyond."
        ),
    ]


class HeatmapCell(msgspec.Struct, tag_field="type", tag="Feature"):
    geometry: HexagonPolygon
    properties: HeatmapCellProperties


class CheckinHeatmap(msgspec.Struct, tag_field="type", tag="FeatureCollection", kw_only=True):
    """A GeoJSON FeatureCollection; ``from``, ``to``, ``cell_m`` and ``min_members`` are foreign members."""

    features: list[HeatmapCell]
    from_: date = msgspec.field(name="from")
    to: date
    cell_m: Annotated[
        float,
        msgspec.Meta(
            description="The hexagons' size (circumradius) on the ground at the box's middle latitude, in metres: the "
            "rung of the ladder that `cell_m` was snapped to."
        ),
    ]
    min_members: Annotated[int, msgspec.Meta(description="k: cells with fewer distinct members are left out.")]


def heatmap_grid(raw_bbox: str, cell_m: float, crs: Crs = WGS84_CRS) -> Grid:
    """The grid asked for (``raw_bbox`` in ``crs``, the grid in WGS-84) on its rung of the ladder, or a 422 naming
    ``bbox`` or ``cell_m``; no database needed."""
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
    # Mercator stretches lengths by 1/cos(latitude): a cell cell_m across on the ground mid-box, snapped to the ladder.
    grid = Grid(box, nearest_rung(cell_m / math.cos(math.radians((minlat + maxlat) / 2))))
    area = (mercator_x(maxlon) - mercator_x(minlon)) * (mercator_y(maxlat) - mercator_y(minlat))
    cells = math.ceil(area / (_HEXAGON_AREA * grid.size * grid.size))
    if cells > MAX_CELLS:
        raise invalid(
            "cell_m",
            f"a grid of {grid.cell_m:g} m hexagons (cell_m {cell_m:g} on the ladder) over this bbox would have about "
            f"{cells:,} cells, more than {MAX_CELLS:,}; use a larger cell_m or a smaller bbox",
            source="query",
        )
    return grid


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
            "Verified check-ins in the date range counted on a grid of hexagons, with their distinct members. "
            "Hexagons with fewer distinct members than the brand's `heatmap_min_members` (k, counted over the whole "
            "range) are left out.\n\n"
            "**Grid.** Hexagons come in a fixed ladder of sizes: flat-topped, laid out as PostGIS's `ST_Hexagon` in "
            f"Web Mercator (EPSG:3857), with a circumradius of {BASE_M:g}·√2^k Mercator metres "
            f"(k = {ROLLUP_RUNGS[0]}…{ROLLUP_RUNGS[-1]}, {rung_size(ROLLUP_RUNGS[0]):g} m to "
            f"{rung_size(ROLLUP_RUNGS[-1]) / 1000:g} km). `cell_m` is taken at the box's middle latitude "
            "(cell_m / cos(latitude) in Mercator metres) and snapped to the nearest size in log scale, so hexagons "
            "are at most 19 % larger or smaller than asked; the answer's `cell_m` says what they are there. The same "
            "`cell_m` over the same area always gives the same hexagons, which is what lets them be counted ahead "
            "of time: such answers cost the same whatever the history's length. A `cell_m` that snaps beyond the "
            "ladder (under about 84 m near the equator, or large cells beyond about 66° of latitude) is counted "
            "from the check-ins themselves, which takes longer as the range grows.\n\n"
            "**Box.** A hexagon is in the answer when it touches the box, with all its check-ins, also those just "
            "outside the box; two boxes side by side share the hexagons on their common edge. At most "
            f"{MAX_CELLS:,} hexagons over the box.\n\n"
            f"Send `Accept: text/csv` for the cells as CSV ({', '.join(CSV_COLUMNS)}), with a header line."
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
                ge=MIN_CELL_M,
                le=MAX_CELL_M,
                description="Hexagon size in metres (edge length = circumradius) at the box's middle latitude, "
                "snapped to the nearest size of the ladder (see above).",
            ),
        ] = 500.0,
        from_date: FromDate = None,
        to_date: ToDate = None,
        crs: CrsQuery = "wgs84",
    ) -> CheckinHeatmap:
        grid = heatmap_grid(bbox, cell_m, crs)
        brand_id = principal_of(request).brand_id
        # The rollup is read after the brand's journal is folded into it, in the statement that reads the clock.
        span = await stats_range(db_session, brand_id, from_date, to_date, fold=grid.from_rollups)
        if wants_csv(request):
            _, rows = await heatmap_cells(db_session, brand_id, grid, span, csv=True)
            return cast("CheckinHeatmap", csv_response(CSV_COLUMNS, _csv_lines(rows, crs), "checkin-heatmap"))
        k, rows = await heatmap_cells(db_session, brand_id, grid, span)
        heatmap = CheckinHeatmap(
            features=_features(rows), from_=span.start, to=span.end, cell_m=grid.cell_m, min_members=k
        )
        return answer_in(crs, heatmap, decimals=_DECIMALS)
