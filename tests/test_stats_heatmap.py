"""The check-in heatmap: hexagon counts by hand, k-anonymity, what counts, CSV, and the refusals.

Check-ins are inserted as rows (the API only takes ``recorded_at`` within the last 24 hours and throttles a
member's check-ins), then the brand's rollups are rebuilt from them, as ``solomo maintenance rebuild-stats`` does;
except in the test that posts them through ``POST /v1/checkins``, whose journal the read folds. Points are placed by
geometry in the grid's own projection (EPSG:3857), so which hexagon each falls in is known by construction. The
grid is the rung of the ladder that ``cell_m`` snaps to (solomo/stats/heatmap_cells.py): tests/stats/ holds the
ladder's own tests.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shapely
from pyproj import Geod, Transformer
from sqlalchemy import text

from solomo.geo.bbox import parse_bbox
from solomo.geo.crs import wgs84_to_gcj02
from solomo.stats.rollups import rebuild_brand
from tests.conftest import BrandContext

GEOD = Geod(ellps="WGS84")
TO_MERCATOR = Transformer.from_crs(4326, 3857, always_xy=True)
TO_WGS84 = Transformer.from_crs(3857, 4326, always_xy=True)
URL = "/v1/stats/checkins/heatmap"
HALF_BOX = 0.02  # degrees either side of the place: the box's middle latitude is the place's


@dataclass(frozen=True)
class Row:
    member_id: str
    lon: float
    lat: float
    recorded_at: datetime | None = None
    flags: tuple[str, ...] = ()
    purged: bool = False  # location gone, only coarse_location kept (here: the same point)


class Grid:
    """ST_HexagonGrid's layout in EPSG:3857: flat-topped hexagons, column i at x = 1.5 size i, odd columns half up;
    the size is the ladder's (100·√2^k Mercator metres) nearest in log scale to ``cell_m`` at ``lat``."""

    def __init__(self, lat: float, cell_m: float = 500) -> None:
        rung = round(2 * math.log2(cell_m / math.cos(math.radians(lat)) / 100))
        self.size = 100 * math.sqrt(2) ** rung
        self.apothem = self.size * math.sqrt(3) / 2
        #: What the answer says the size is: the rung's size on the ground at ``lat``.
        self.cell_m = round(self.size * math.cos(math.radians(lat)), 1)

    def centre(self, i: int, j: int) -> tuple[float, float]:
        return 1.5 * self.size * i, self.size * math.sqrt(3) * (j + (i % 2) / 2)

    def cell_near(self, lon: float, lat: float) -> tuple[int, int]:
        """A cell near (lon, lat): not always the one holding it, which needs no more than a place to start."""
        x, y = TO_MERCATOR.transform(lon, lat)
        i = round(x / (1.5 * self.size))
        return i, round(y / (self.size * math.sqrt(3)) - (i % 2) / 2)

    def index(self, lon: float, lat: float) -> tuple[int, int]:
        """(i, j) of the hexagon whose centre is at (lon, lat)."""
        i, j = self.cell_near(lon, lat)
        assert math.dist(self.centre(i, j), TO_MERCATOR.transform(lon, lat)) < 1, "not a cell centre"
        return i, j

    def at(self, centre: tuple[float, float], bearing_deg: float, distance: float) -> tuple[float, float]:
        """The lon/lat of a point ``distance`` projected metres from ``centre``, at an angle from the x axis."""
        x = centre[0] + distance * math.cos(math.radians(bearing_deg))
        y = centre[1] + distance * math.sin(math.radians(bearing_deg))
        lon, lat = TO_WGS84.transform(x, y)
        return float(lon), float(lat)


def box(lon: float, lat: float, half: float = HALF_BOX) -> str:
    return f"{lon - half},{lat - half},{lon + half},{lat + half}"


async def members(brand: BrandContext, n: int) -> list[str]:
    return [str((await brand.member())["id"]) for _ in range(n)]


async def insert(brand: BrandContext, rows: Sequence[Row]) -> None:
    default = datetime.now(UTC) - timedelta(hours=1)
    async with brand.sessions() as session:
        await session.execute(
            text(
                """
                INSERT INTO checkins (brand_id, member_id, recorded_at, location, coarse_location, accuracy_m, flags)
                SELECT CAST(:brand_id AS uuid), CAST(:member_id AS uuid), CAST(:recorded_at AS timestamptz),
                       CASE WHEN :purged THEN NULL ELSE p END, CASE WHEN :purged THEN p END, 10,
                       CAST(:flags AS text[])
                FROM (SELECT CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography) AS p) AS point
                """
            ),
            [
                {
                    "brand_id": brand.id,
                    "member_id": uuid.UUID(r.member_id),
                    "recorded_at": r.recorded_at or default,
                    "lon": r.lon,
                    "lat": r.lat,
                    "purged": r.purged,
                    "flags": list(r.flags),
                }
                for r in rows
            ],
        )
        await session.commit()
    # Rows inserted behind the journal's back reach the rollups as rebuild-stats brings them.
    await rebuild_brand(brand.sessions.kw["bind"], brand.id)


async def set_k(brand: BrandContext, k: int) -> None:
    answer = await brand.client.patch("/v1/brand", json={"heatmap_min_members": k}, headers=brand.admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["heatmap_min_members"] == k


async def heatmap(brand: BrandContext, params: dict[str, str], headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer = await brand.client.get(URL, params=params, headers=headers or brand.admin)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["type"] == "FeatureCollection"
    return body


def polygon(feature: dict[str, Any]) -> shapely.Polygon:
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "Polygon"
    return shapely.geometry.shape(feature["geometry"])


def counts(feature: dict[str, Any]) -> tuple[int, int]:
    return feature["properties"]["checkins"], feature["properties"]["members"]


PLACES = {
    "paris": (2.3522, 48.8566),
    "new-york": (-73.9857, 40.7484),  # negative x: negative columns, odd ones among them
    "sydney": (151.2093, -33.8688),  # negative y: negative rows
}
PARIS = PLACES["paris"]


@pytest.mark.parametrize("place", PLACES)
async def test_counts_per_hexagon_follow_the_points_placed(brand: BrandContext, place: str) -> None:
    lon, lat = PLACES[place]
    grid = Grid(lat)
    centre = grid.centre(*grid.cell_near(lon, lat))
    a, b, c = await members(brand, 3)
    near = grid.at(centre, 0, 0)
    # The home cell: its centre, just inside its upper-right edge, near its right corner (where the column
    # beside it starts), and a purged row that only has its coarse point left.
    home = [
        Row(a, *near),
        Row(a, *grid.at(centre, 90, 0.2 * grid.apothem)),
        Row(b, *grid.at(centre, 30, 0.9 * grid.apothem)),
        Row(c, *grid.at(centre, 0, 0.95 * grid.size)),
        Row(a, *grid.at(centre, 200, 0.3 * grid.apothem), purged=True),
    ]
    # Across the upper-right edge (the next column, half a row up) and across the lower-left one.
    upper_right = [Row(a, *grid.at(centre, 30, 1.1 * grid.apothem)), Row(b, *grid.at(centre, 30, 2 * grid.apothem))]
    lower_left = [Row(b, *grid.at(centre, 210, 1.1 * grid.apothem)), Row(c, *grid.at(centre, 210, 1.3 * grid.apothem))]
    # Two cells further out, so that ordering by (i, j) and by (j, i) differ: (i, j + 1) and (i + 1, j or j - 1).
    above = [Row(c, *grid.at(centre, 90, 2 * grid.apothem)), Row(a, *grid.at(centre, 95, 2 * grid.apothem))]
    lower_right = [Row(a, *grid.at(centre, 330, 2 * grid.apothem)), Row(b, *grid.at(centre, 330, 1.5 * grid.apothem))]
    await insert(brand, home + upper_right + lower_left + above + lower_right)
    await set_k(brand, 2)

    body = await heatmap(brand, {"bbox": box(lon, lat)})

    assert body["min_members"] == 2
    # 500 m on the ladder: 526.4 m in Paris, 428.6 m in New York, 469.7 m in Sydney.
    assert body["cell_m"] == grid.cell_m
    features = body["features"]
    assert len(features) == 5
    groups = {"home": home, "upper_right": upper_right, "lower_left": lower_left, "above": above}
    by_group: dict[str, tuple[int, int]] = {}
    for name, rows in (groups | {"lower_right": lower_right}).items():
        [feature] = [f for f in features if all(polygon(f).contains(shapely.Point(r.lon, r.lat)) for r in rows)]
        by_group[name] = counts(feature)
    assert by_group == {
        "home": (5, 3),
        "upper_right": (2, 2),
        "lower_left": (2, 2),
        "above": (2, 2),
        "lower_right": (2, 2),
    }

    indexes = []
    for feature in features:
        [ring] = feature["geometry"]["coordinates"]
        assert len(ring) == 7
        assert ring[0] == ring[-1]
        assert all(v == round(v, 6) for position in ring for v in position)
        # About cell_m on the ground: the size is scaled by 1/cos(latitude) for Mercator.
        for (lon1, lat1), (lon2, lat2) in itertools.pairwise(ring):
            _, _, edge = GEOD.inv(lon1, lat1, lon2, lat2)
            assert edge == pytest.approx(grid.cell_m, rel=0.01)
        centroid = polygon(feature).centroid
        indexes.append(grid.index(centroid.x, centroid.y))
    assert indexes == sorted(indexes), "features are ordered by the grid's i, then j"


async def test_cells_with_fewer_than_k_members_are_left_out(brand: BrandContext) -> None:
    lon, lat = PLACES["paris"]
    grid = Grid(lat)
    centre = grid.centre(*grid.cell_near(lon, lat))
    below = grid.at(centre, 0, 0)
    at_k = grid.at(centre, 90, 2 * grid.apothem)  # the cell above
    a, b, c = await members(brand, 3)
    await insert(
        brand,
        [
            *(Row(m, *below) for m in (a, a, a, b)),  # 4 check-ins by 2 members
            *(Row(m, *at_k) for m in (a, b, c)),
        ],
    )

    default = await heatmap(brand, {"bbox": box(lon, lat)})
    assert default["min_members"] == 5
    assert default["features"] == []

    await set_k(brand, 3)
    body = await heatmap(brand, {"bbox": box(lon, lat)})
    assert body["min_members"] == 3
    [kept] = body["features"]
    assert counts(kept) == (3, 3)
    assert polygon(kept).contains(shapely.Point(*at_k))

    await set_k(brand, 2)
    body = await heatmap(brand, {"bbox": box(lon, lat)})
    assert sorted(counts(f) for f in body["features"]) == [(3, 3), (4, 2)]


async def test_only_verified_checkins_of_the_brand_in_the_days_and_the_box_count(
    brand: BrandContext, other_brand: BrandContext
) -> None:
    lon, lat = PLACES["paris"]
    grid = Grid(lat)
    centre = grid.centre(*grid.cell_near(lon, lat))
    p = grid.at(centre, 0, 0)
    # The box ends 0.001° east of p; the hexagon reaches about 0.007° east, so its east part is out of the box. A
    # hexagon is counted whole when it touches the box (the rollup knows cells, not points): beyond counts.
    beyond = (p[0] + 0.003, p[1])
    # The centre of the next hexagon east (and half a row up): it reaches 0.0036° east of p at the nearest, so it
    # does not touch the box.
    east = grid.at(grid.centre(*grid.index(*p)), 30, 2 * grid.apothem)
    bbox = f"{p[0] - 0.01},{p[1] - 0.01},{p[0] + 0.001},{p[1] + 0.01}"
    a, b = await members(brand, 2)
    day = {"from": "2025-01-10", "to": "2025-01-10"}  # Paris is UTC+1 in January

    def at(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp)

    await insert(
        brand,
        [
            Row(a, *p, at("2025-01-10T12:00:00Z")),
            Row(b, *p, at("2025-01-10T22:59:00Z")),  # 23:59 in Paris
            Row(b, *p, at("2025-01-09T23:30:00Z")),  # 00:30 in Paris
            Row(a, *p, at("2025-01-09T23:45:00Z")),  # 00:45 in Paris
            Row(a, *p, at("2025-01-10T23:00:00Z")),  # midnight in Paris: the next day
            Row(b, *p, at("2025-01-09T22:59:59Z")),  # the day before in Paris
            Row(a, *p, at("2025-01-10T12:00:00Z"), flags=("mocked",)),
            Row(b, *p, at("2025-01-10T12:00:00Z"), flags=("low_accuracy", "impossible_speed")),
            Row(a, *beyond, at("2025-01-10T12:00:00Z")),  # same hexagon, outside the box
            Row(a, *east, at("2025-01-10T12:00:00Z")),  # a hexagon that does not touch the box
            Row(b, *east, at("2025-01-10T12:00:00Z")),
        ],
    )
    others = await members(other_brand, 2)
    await insert(other_brand, [Row(m, *p, at("2025-01-10T12:00:00Z")) for m in others])
    await set_k(brand, 2)

    body = await heatmap(brand, {"bbox": bbox} | day)
    [cell] = body["features"]
    assert counts(cell) == (5, 2)
    assert polygon(cell).contains(shapely.Point(*beyond))
    assert (body["from"], body["to"]) == ("2025-01-10", "2025-01-10")

    # The rows left out above are there: a wider range and a wider box take them in.
    [cell] = (await heatmap(brand, {"bbox": bbox, "from": "2025-01-09", "to": "2025-01-11"}))["features"]
    assert counts(cell) == (7, 2)
    cells = (await heatmap(brand, {"bbox": box(*p)} | day))["features"]
    assert sorted(counts(c) for c in cells) == [(2, 2), (5, 2)]
    [east_cell] = [c for c in cells if polygon(c).contains(shapely.Point(*east))]
    assert counts(east_cell) == (2, 2)


async def test_checkins_posted_through_the_api_are_counted_unless_flagged(brand: BrandContext) -> None:
    lon, lat = PLACES["paris"]
    await set_k(brand, 2)
    answer = await brand.client.patch("/v1/brand", json={"checkin_min_interval_s": 0}, headers=brand.admin)
    assert answer.status_code == 200, answer.text
    when = datetime.now(UTC) - timedelta(minutes=5)
    for n, external_id in enumerate(("heat-a", "heat-b")):
        member = await brand.client.post(
            "/v1/members",
            json={"external_id": external_id, "consent": {"location": True, "marketing": False}},
            headers=brand.admin,
        )
        assert member.status_code in (200, 201), member.text
        token = brand.bearer(await brand.member_token(member.json()["id"]))
        for mocked in (False, True):
            body = {
                "location": {"type": "Point", "coordinates": [lon, lat]},
                "accuracy_m": 5,
                "recorded_at": (when + timedelta(seconds=10 * n + 5 * mocked)).isoformat(),
                "mocked": mocked,
            }
            answer = await brand.client.post("/v1/checkins", json=body, headers=token)
            assert answer.status_code == 201, answer.text
            assert ("mocked" in answer.json()["flags"]) is mocked

    [cell] = (await heatmap(brand, {"bbox": box(lon, lat)}))["features"]
    assert counts(cell) == (2, 2)
    assert polygon(cell).contains(shapely.Point(lon, lat))


async def test_csv_has_the_json_cells(brand: BrandContext) -> None:
    lon, lat = PLACES["new-york"]
    grid = Grid(lat, 200)
    centre = grid.centre(*grid.cell_near(lon, lat))
    a, b, c = await members(brand, 3)
    spots = [grid.at(centre, angle, 2 * grid.apothem * n) for n, angle in ((0, 0), (1, 90), (1, 30), (2, 270))]
    await insert(brand, [Row(m, *spot) for n, spot in enumerate(spots) for m in (a, b, c)[: 2 + n % 2]])
    await set_k(brand, 2)
    params = {"bbox": box(lon, lat), "cell_m": "200"}

    features = (await heatmap(brand, params))["features"]
    answer = await brand.client.get(URL, params=params, headers=brand.admin | {"Accept": "text/csv"})

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["center_lon", "center_lat", "checkins", "members", "wkt"]
    assert len(features) == len(rows) - 1 == 4
    for feature, (center_lon, center_lat, checkins, members_, wkt) in zip(features, rows[1:], strict=True):
        assert (int(checkins), int(members_)) == counts(feature)
        hexagon = shapely.from_wkt(wkt)
        assert hexagon.equals_exact(polygon(feature), tolerance=0)
        centroid = hexagon.centroid
        assert float(center_lon) == pytest.approx(centroid.x, abs=2e-6)
        assert float(center_lat) == pytest.approx(centroid.y, abs=2e-6)


async def test_an_area_without_checkins_is_an_empty_collection(brand: BrandContext) -> None:
    answer = await brand.client.get(URL, params={"bbox": "10,10,10.5,10.5"}, headers=brand.admin)
    assert answer.status_code == 200, answer.text
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    assert answer.json() == {
        "type": "FeatureCollection",
        "features": [],
        "from": (today - timedelta(days=29)).isoformat(),
        "to": today.isoformat(),
        "cell_m": Grid(10.25).cell_m,  # 500 m on the ladder at 10.25°N: 556.7 m
        "min_members": 5,
    }


async def test_marketers_may_read_the_heatmap_and_managers_may_not(brand: BrandContext) -> None:
    store = await brand.store()
    manager = await brand.key("manager", [uuid.UUID(store["id"])])
    marketer = await brand.key("marketer")
    params = {"bbox": box(*PARIS)}
    answer = await brand.client.get(URL, params=params, headers=brand.bearer(manager))
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "role_not_allowed"
    assert (await heatmap(brand, params, brand.bearer(marketer)))["features"] == []


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"bbox": "179.5,10,-179.5,11"}, "bbox", "split it at ±180 into two requests"),
        ({"bbox": "170,10,-170,11"}, "bbox", "antimeridian"),
        ({"bbox": "0,40,6,41"}, "bbox", "more than 5°"),
        ({"bbox": "0,40,1,45.5"}, "bbox", "more than 5°"),
        ({"bbox": "0,86,1,87"}, "bbox", "85.0511"),
        ({"bbox": "1,2,3"}, "bbox", "expected 4"),
        ({"bbox": "0,nan,1,1"}, "bbox", "not a number"),
        ({}, "bbox", "missing"),
        ({"bbox": "2,48,4,50", "cell_m": "50"}, "cell_m", "more than 20,000"),
        ({"bbox": box(*PARIS), "cell_m": "49"}, "cell_m", ""),
        ({"bbox": box(*PARIS), "cell_m": "50001"}, "cell_m", ""),
        ({"bbox": box(*PARIS), "cell_m": "wide"}, "cell_m", ""),
        ({"bbox": box(*PARIS), "cell_m": "nan"}, "cell_m", ""),
        ({"bbox": box(*PARIS), "cell_m": "inf"}, "cell_m", ""),
        ({"bbox": box(*PARIS), "from": "2025-02-01", "to": "2025-01-31"}, "to", "before"),
        ({"bbox": box(*PARIS), "from": "2024-01-01", "to": "2025-02-05"}, "to", "more than 400"),
        ({"bbox": box(*PARIS), "from": "2025-13-01"}, "from", ""),
        ({"bbox": box(*PARIS), "crs": "mars"}, "crs", "Invalid enum value 'mars'"),
    ],
)
async def test_refusals_name_the_parameter(brand: BrandContext, params: dict[str, str], field: str, says: str) -> None:
    answer = await brand.client.get(URL, params=params, headers=brand.admin)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    [error] = answer.json()["errors"]
    assert (error["field"], error["source"]) == (field, "query")
    assert says in error["message"]


async def test_heatmap_in_gcj02(brand: BrandContext) -> None:
    """Asked in GCJ-02 (a dashboard on AMap), the box is read in GCJ-02 and the same cells come back drawn in
    GCJ-02: every vertex and CSV centre is its WGS-84 answer's, converted, and each holds its points as the map
    shows them."""
    lon, lat = 121.4737, 31.2304  # People's Square, WGS-84
    grid = Grid(lat)
    centre = grid.centre(*grid.cell_near(lon, lat))
    a, b = await members(brand, 2)
    spots = [grid.at(centre, 0, 0), grid.at(centre, 90, 2 * grid.apothem)]
    await insert(brand, [Row(m, *spot) for spot in spots for m in (a, b)])
    await set_k(brand, 2)

    glon, glat = wgs84_to_gcj02(lon, lat)
    in_gcj = (await heatmap(brand, {"bbox": box(glon, glat), "crs": "gcj02"}))["features"]
    # The grid's cell size follows the box's middle latitude: the same grid in WGS-84 is the converted box's.
    [wgs_box] = parse_bbox(box(glon, glat), crs="gcj02")
    in_wgs = (await heatmap(brand, {"bbox": ",".join(map(str, wgs_box))}))["features"]
    assert len(in_gcj) == len(in_wgs) == 2
    for wgs_cell, gcj_cell in zip(in_wgs, in_gcj, strict=True):
        assert counts(gcj_cell) == counts(wgs_cell)
        for wgs_vertex, gcj_vertex in zip(
            wgs_cell["geometry"]["coordinates"][0], gcj_cell["geometry"]["coordinates"][0], strict=True
        ):
            assert gcj_vertex == pytest.approx(wgs84_to_gcj02(*wgs_vertex), abs=2e-6)  # both rounded to 6 decimals
    for spot in spots:
        assert sum(polygon(cell).contains(shapely.Point(wgs84_to_gcj02(*spot))) for cell in in_gcj) == 1

    params = {"bbox": box(glon, glat), "crs": "gcj02"}
    answer = await brand.client.get(URL, params=params, headers=brand.admin | {"Accept": "text/csv"})
    assert answer.status_code == 200, answer.text
    rows = list(csv.reader(io.StringIO(answer.text)))[1:]
    assert len(rows) == 2
    for cell, (center_lon, center_lat, checkins, members_, wkt) in zip(in_gcj, rows, strict=True):
        assert (int(checkins), int(members_)) == counts(cell)
        assert shapely.from_wkt(wkt).equals_exact(polygon(cell), tolerance=1e-9)
        assert wkt.startswith("POLYGON((121.")
        assert shapely.Point(float(center_lon), float(center_lat)).within(polygon(cell))


async def test_too_many_cells_says_how_many(brand: BrandContext) -> None:
    answer = await brand.client.get(URL, params={"bbox": "2,48,3,49", "cell_m": "100"}, headers=brand.admin)
    assert answer.status_code == 422, answer.text
    message = answer.json()["errors"][0]["message"]
    found = re.search(r"about ([\d,]+) cells", message)
    assert found, message
    # 1° x 1° at 48.5°N is about 73.8 km x 111.2 km; 100 m is 93.7 m on the ladder there, a hexagon of 22,810 m².
    size = Grid(48.5, 100).cell_m
    assert size == 93.7
    assert int(found.group(1).replace(",", "")) == pytest.approx(73.8e3 * 111.2e3 / (2.598 * size**2), rel=0.02)
    assert "93.7 m hexagons" in message
    ok = await brand.client.get(URL, params={"bbox": "2,48,3,49", "cell_m": "500"}, headers=brand.admin)
    assert ok.status_code == 200, ok.text
