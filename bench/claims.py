"""Coupon benchmark (issue 7): claims on one hot capped offer and redemptions across many codes, over HTTP with
durable commits, and the two SQL functions called directly through asyncpg (the floor).

Prints figures, and what the database holds after each run: coupons against each offer's cap (over-issuance),
against the capacity slots' ``sum(used)`` and against the 201 answers seen; live redemptions per coupon. It
asserts nothing. One run:

1. starts a private, durable (fsync on) PostGIS cluster in a temporary directory and migrates it; makes one
   brand with its admin key (BrandService) and members with marketing consent (bench/dataset.py);
2. serves the API with ``solomo run --workers 2``; stores, one running campaign and its offers are made
   through the API, so the offers service writes each offer's capacity slots; every member is then made
   eligible for every offer in bulk (``offer_eligibility`` rows, as a check-in grants them);
3. claims: one fresh offer per connection level, capped at ``--cap``, one coupon per member; wrk
   (bench/claims.lua) sends each member's claim once and waits for every answer, so the answers seen are
   exactly the claims the server carried out; then a fixed-rate run, and a run on an offer whose cap is
   below the claims sent (exhaustion: 409 offer_exhausted);
4. the floor: ``solomo_claim_request`` (the API's one statement) called through asyncpg on N connections, no
   HTTP, no app;
5. redemptions: the coupons made above, each redeemed once (admin key, codes as printed, 10 stores); the
   same codes scanned by two connections at once (double scan: one 201 and one 409 each); and
   ``solomo_redeem_request`` through asyncpg;
6. stops the server and deletes the cluster, also on Ctrl-C or an error.

Run: ``uv run python -m bench.claims [--cap 20000] [--connections 8,32,64] [--duration-limit 20]`` (see
``--help`` and bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from bench.dataset import load_members
from bench.harness import (
    CPU_HEADER,
    CPU_WIDTHS,
    FloorResult,
    Level,
    Waits,
    add_server_options,
    api_server,
    bench_database,
    connection_list,
    cpu_row,
    floor,
    measured,
    print_cpu_notes,
    print_setup_head,
    print_wrk_commands,
    row,
    run_main,
    sampling_waits,
    server_settings,
    signing_codec,
    verdict,
)
from bench.loadgen import ONCE_DRIVER, Wrk, find_wrk
from bench.sysmon import CpuMeter, postmaster_pid
from solomo.auth.secrets import hash_secret
from solomo.brands.service import BrandService
from solomo.coupons.capacity import SLOTS
from solomo.coupons.codes import display, new_coupon_code, normalize
from solomo.db.engine import make_engine

DATABASE = "solomo_bench_coupons"
TARGET_RPS = 1_500.0
TARGET_P99_MS = 25.0
#: Where the goal is set: claims on one hot offer at this many connections.
TARGET_CONNECTIONS = 64
# The statements the API sends (token version 0, budgets out of the way, no Idempotency-Key), called directly.
CLAIM_SQL = "SELECT solomo_claim_request($1, $2, 0, 1000000000, 1000000000, NULL, NULL, $3, NULL, $4)"
REDEEM_SQL = "SELECT solomo_redeem_request($1, $2, $3, 1000000000, 1000000000, NULL, NULL, 6.0, 9, $4, false, $5, $6)"
ORDER_AMOUNT = "12.50"
#: Calls each floor connection makes before the clock starts (on offers and codes of their own).
WARM_CALLS = 5
#: Seconds wrk may run past --duration-limit while claims.lua waits for the answers still due.
GRACE_S = 30.0
#: Width of the run names in the report's tables.
LABEL_WIDTH = 20


# -- options -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.claims",
        description="Benchmark coupon claims on one hot capped offer and redemptions (wrk), and the SQL floor.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--members", type=int, default=20_000, help="members, each eligible for every offer (one token each)"
    )
    parser.add_argument("--cap", type=int, default=20_000, help="total limit of each hot offer (one per level)")
    parser.add_argument("--requests", type=int, default=20_000, help="claims per level (each member once)")
    parser.add_argument("--connections", type=connection_list, default=[8, 32, 64], help="claim levels")
    parser.add_argument(
        "--duration-limit", type=float, default=20.0, help="seconds after which a level stops sending even if short"
    )
    parser.add_argument("--warmup", type=int, default=2_000, help="claims at 32 connections before measuring")
    parser.add_argument(
        "--rate-fraction",
        type=float,
        default=0.6,
        help=f"fixed-rate claims, as a fraction of the claims/s at {TARGET_CONNECTIONS} connections (0: none)",
    )
    parser.add_argument("--rate-seconds", type=float, default=10.0, help="length of the fixed-rate run")
    parser.add_argument("--rate-connections", type=int, default=64, help="connections for the fixed-rate run")
    parser.add_argument(
        "--exhaust-cap", type=int, default=2_000, help="cap of the offer claimed past its end (0: no such run)"
    )
    parser.add_argument("--exhaust-requests", type=int, default=6_000, help="claims sent to that offer")
    parser.add_argument("--exhaust-connections", type=int, default=64)
    parser.add_argument(
        "--floor-connections",
        type=connection_list,
        default=[8, 64],
        help="levels of solomo_claim_request and solomo_redeem_request through asyncpg",
    )
    parser.add_argument("--floor-requests", type=int, default=20_000, help="calls per floor level")
    parser.add_argument("--no-floor", action="store_true", help="skip the direct-SQL floors")
    parser.add_argument(
        "--redeem-connections", type=connection_list, default=[64], help="redemption levels (distinct codes)"
    )
    parser.add_argument("--redeem-requests", type=int, default=20_000, help="redemptions per level")
    parser.add_argument("--redeem-warmup", type=int, default=1_000, help="redemptions at 32 connections first")
    parser.add_argument(
        "--double-scan", type=int, default=2_000, help="codes each sent by two connections at once (0: none)"
    )
    parser.add_argument("--stores", type=int, default=10, help="stores (redemptions rotate through them)")
    parser.add_argument(
        "--plan-cache-mode",
        choices=["function", "auto", "force_generic_plan", "force_custom_plan"],
        default="function",
        help="plan_cache_mode of the claim and redeem request functions (function: as their living files say)",
    )
    add_server_options(parser)
    args = parser.parse_args(argv)
    args.requests = min(args.requests, args.members)
    args.exhaust_requests = min(args.exhaust_requests, args.members)
    args.floor_requests = min(args.floor_requests, args.members)
    if args.no_floor:
        args.floor_connections = []
    return args


# -- set-up --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Brand:
    id: uuid.UUID
    admin_secret: str
    admin_key_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Offer:
    """One offer of the run and what was done with it: its cap, and the claims answered 201 (or "claimed")."""

    label: str
    id: uuid.UUID
    cap: int | None


async def make_brand(url: str) -> Brand:
    """A brand and its first admin key, as `solomo brands create` makes them."""
    engine = make_engine(url, pool_size=1)
    try:
        async with AsyncSession(engine) as session:
            brand, key = await BrandService(session).create("Bench Coupons", timezone="UTC")
            await session.commit()
    finally:
        await engine.dispose()
    return Brand(brand.id, key.secret, key.id)


async def add_members(dsn: str, brand_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    conn = await asyncpg.connect(dsn)
    try:
        return await load_members(conn, brand_id, count)
    finally:
        await conn.close()


def api_post(base_url: str, secret: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST as the admin key; the answer's JSON (an error answer raises, with its text)."""
    request = urllib.request.Request(  # noqa: S310 - our own http URL
        f"{base_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        created: dict[str, Any] = json.loads(answer.read())
        return created


def make_offers(base_url: str, brand: Brand, args: argparse.Namespace) -> tuple[list[uuid.UUID], dict[str, Offer]]:
    """Stores, a running campaign and its offers, through the API: the offers service writes the capacity slots.

    Offers: "warm-up" and "stock" (no limits: warm-ups and coupons to redeem), one hot offer per claim level,
    one for the fixed rate, one to exhaust and one per floor level (capped, one coupon per member).
    """
    stores = [
        api_post(
            base_url,
            brand.admin_secret,
            "/v1/stores",
            {
                "name": f"Bench store {n + 1}",
                "timezone": "UTC",
                "location": {"type": "Point", "coordinates": [2.30 + n * 0.01, 48.85]},
            },
        )
        for n in range(args.stores)
    ]
    now = datetime.now(UTC)
    campaign = api_post(
        base_url,
        brand.admin_secret,
        "/v1/campaigns",
        {
            "name": "Bench coupons",
            "channel": "app",
            "status": "active",
            "starts_at": (now - timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
        },
    )
    wanted: list[tuple[str, int | None]] = [("warm-up", None), ("stock", None)]
    wanted += [(f"claims c={c}", args.cap) for c in args.connections]
    if args.rate_fraction > 0:
        wanted.append(("claims fixed rate", args.cap))
    if args.exhaust_cap > 0:
        wanted.append(("exhaustion", args.exhaust_cap))
    wanted += [(f"floor c={c}", args.cap) for c in args.floor_connections]
    offers = {}
    for label, cap in wanted:
        limits = {"total": cap, "per_member": 1} if cap is not None else {}
        body = {
            "campaign_id": campaign["id"],
            "title": f"Bench: {label}",
            "coupon": {"kind": "percent", "percent_off": 10, "validity_minutes": 1440},
            "limits": limits,
        }
        created = api_post(base_url, brand.admin_secret, "/v1/offers", body)
        offers[label] = Offer(label, uuid.UUID(created["id"]), cap)
    return [uuid.UUID(s["id"]) for s in stores], offers


async def grant_eligibility(
    dsn: str, brand_id: uuid.UUID, offers: Sequence[Offer], store_ids: Sequence[uuid.UUID]
) -> int:
    """Every member eligible for every offer for 6 hours, at one of the stores, as a check-in would grant it (the
    check-in id is made up: nothing refers to it); then VACUUM ANALYZE and a checkpoint."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO offer_eligibility (brand_id, member_id, offer_id, store_id, checkin_id, granted_at,
                                           eligible_until)
            SELECT $1, m.id, o.id, ($3::uuid[])[1 + (row_number() OVER () % cardinality($3::uuid[]))::int],
                   gen_random_uuid(), now(), now() + interval '6 hours'
            FROM members m CROSS JOIN unnest($2::uuid[]) AS o(id)
            WHERE m.brand_id = $1
            """,
            brand_id,
            [o.id for o in offers],
            list(store_ids),
        )
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CHECKPOINT")  # so the load's dirty pages are not flushed during the first level
        granted: int = await conn.fetchval("SELECT count(*) FROM offer_eligibility")
        return granted
    finally:
        await conn.close()


# -- the runs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inside:
    """What PostgreSQL did during a run: its client backends' states (sampled) and the multixacts it created."""

    waits: Waits
    multixacts: int
    multixact_members: int


@dataclass(frozen=True, slots=True)
class Run:
    """A measured run: over HTTP (``level``) or through asyncpg (``floor``), on an offer or on codes."""

    label: str
    level: Level | None = None
    floor: FloorResult | None = None
    offer: Offer | None = None
    inside: Inside | None = None

    @property
    def issued(self) -> int:
        """Claims (or redemptions) the client saw succeed: 201 answers, or "claimed"/"redeemed" answers."""
        if self.level is not None:
            return self.level.http.ok
        assert self.floor is not None
        return self.floor.outcomes.get("claimed", 0) + self.floor.outcomes.get("redeemed", 0)


def _status_of(found: list[Any]) -> str:
    answer: dict[str, Any] = json.loads(found[0][0])
    return str(answer["status"])


async def _multixacts(dsn: str) -> tuple[int, int]:
    """pg_control's next multixact id and member offset, made current by a checkpoint (outside any measurement).

    A transaction that checks a foreign key locks the referenced row FOR KEY SHARE; when several hold such a lock
    on one row at once, each new locker makes a new multixact listing them all.
    """
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CHECKPOINT")
        row_ = await conn.fetchrow(
            "SELECT next_multixact_id::text::bigint AS ids, next_multi_offset::text::bigint AS members"
            " FROM pg_control_checkpoint()"
        )
        return int(row_["ids"]), int(row_["members"])
    finally:
        await conn.close()


class Observer:
    """Runs a measurement with everything recorded around it: CPU (sysmon), PostgreSQL's counters, its backends'
    states, and the multixacts created."""

    def __init__(self, meter: CpuMeter, dsn: str) -> None:
        self.meter = meter
        self.dsn = dsn

    def _inside(self, before: tuple[int, int], waits: Waits) -> Inside:
        after = asyncio.run(_multixacts(self.dsn))
        return Inside(waits, after[0] - before[0], after[1] - before[1])

    def http(
        self, wrk: Wrk, label: str, connections: int, requests: int, limit_s: float, *, rate: float = 0.0,
        path: str | None = None, offer: Offer | None = None,
    ) -> Run:  # fmt: skip
        before = asyncio.run(_multixacts(self.dsn))
        with sampling_waits(self.dsn) as waits:
            level = measured(wrk, self.meter, self.dsn, label, connections, requests, limit_s, rate=rate, path=path)
        run = Run(label, level=level, offer=offer, inside=self._inside(before, waits[0]))
        h, cpu = level.http, level.cpu
        print(
            f"  {label}: {h.rps:,.0f} ok/s, p50 {h.p50_ms:.2f} ms, p99 {h.p99_ms:.2f} ms, statuses {h.statuses},"
            f" other processes {cpu.share(cpu.rest):.2f} cores",
            flush=True,
        )
        return run

    def floor(
        self, label: str, sql: str, params: Sequence[tuple[Any, ...]], connections: int,
        warm: Sequence[Sequence[tuple[Any, ...]]], offer: Offer | None = None,
    ) -> Run:  # fmt: skip
        before = asyncio.run(_multixacts(self.dsn))
        with sampling_waits(self.dsn) as waits, self.meter.measure() as cpu:
            result = asyncio.run(floor(self.dsn, sql, params, connections, len(params), warm=warm, classify=_status_of))
        inside = self._inside(before, waits[0])
        print(f"  {label}: {result.qps:,.0f} calls/s, answers {result.outcomes}", flush=True)
        return Run(label, floor=dataclasses.replace(result, cpu=cpu[0]), offer=offer, inside=inside)


def claim_runs(
    args: argparse.Namespace, wrk: Wrk, observer: Observer, offers: dict[str, Offer]
) -> tuple[list[Run], Run | None, Run | None]:
    """The claim levels (one hot offer each), the fixed-rate run, and the exhaustion run."""

    def claims_path(label: str) -> str:
        return f"/v1/offers/{offers[label].id}/claims"

    print(f"warming up with {args.warmup} claims at 32 connections …", flush=True)
    wrk.run("claims warm-up", 32, args.warmup, args.duration_limit, path=claims_path("warm-up"))
    levels = []
    for c in args.connections:
        label = f"claims c={c}"
        levels.append(
            observer.http(
                wrk, label, c, args.requests, args.duration_limit, path=claims_path(label), offer=offers[label]
            )
        )
    paced = None
    reference = _at_target(levels) or levels[-1]
    assert reference.level is not None
    rate = args.rate_fraction * reference.level.http.rps
    if rate > 0:
        offer = offers["claims fixed rate"]
        requests = min(args.members, round(rate * args.rate_seconds))
        limit_s = args.rate_seconds + args.duration_limit
        label = f"claims at {rate:,.0f}/s"
        print(f"fixed rate: {rate:,.0f} claims/s over {args.rate_connections} connections …", flush=True)
        paced = observer.http(
            wrk, label, args.rate_connections, requests, limit_s, rate=rate, path=claims_path(offer.label), offer=offer
        )
    exhausted = None
    if args.exhaust_cap > 0:
        label = "exhaustion"
        print(f"claiming an offer capped at {args.exhaust_cap:,} with {args.exhaust_requests:,} claims …", flush=True)
        exhausted = observer.http(
            wrk, label, args.exhaust_connections, args.exhaust_requests, args.duration_limit,
            path=claims_path(label), offer=offers[label],
        )  # fmt: skip
    return levels, paced, exhausted


def claim_floors(
    args: argparse.Namespace, observer: Observer, brand_id: uuid.UUID, members: list[uuid.UUID],
    offers: dict[str, Offer],
) -> list[Run]:  # fmt: skip
    """solomo_claim_request on N connections, autocommit (one round trip a claim), each member once per offer."""
    runs = []
    for c in args.floor_connections:
        offer = offers[f"floor c={c}"]
        params = [(brand_id, m, offer.id, new_coupon_code()) for m in members[: args.floor_requests]]
        warm_offer = offers["warm-up"].id
        warm = [
            [(brand_id, members[(k * WARM_CALLS + i) % len(members)], warm_offer, new_coupon_code())
             for i in range(WARM_CALLS)]
            for k in range(c)
        ]  # fmt: skip
        runs.append(observer.floor(offer.label, CLAIM_SQL, params, c, warm, offer))
    return runs


async def coupon_codes(dsn: str, brand_id: uuid.UUID) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT code FROM coupons c WHERE brand_id = $1"
            " AND NOT EXISTS (SELECT 1 FROM redemptions r WHERE r.coupon_id = c.id) ORDER BY code",
            brand_id,
        )
        return [r["code"] for r in rows]
    finally:
        await conn.close()


def stock_up(dsn: str, brand: Brand, members: list[uuid.UUID], offers: dict[str, Offer], needed: int) -> int:
    """Claims on the unlimited "stock" offer through SQL until ``needed`` coupons are unredeemed; how many."""
    have = len(asyncio.run(coupon_codes(dsn, brand.id)))
    missing = needed - have
    if missing > 0:
        print(f"claiming {missing:,} more coupons through SQL for the redemptions …", flush=True)
        stock = offers["stock"].id
        # A grant is claimed once: each round claims each member's grant, then grants it again, as a next day's
        # check-in would.
        for start in range(0, missing, len(members)):
            count = min(len(members), missing - start)
            params = [(brand.id, members[i], stock, new_coupon_code()) for i in range(count)]
            asyncio.run(floor(dsn, CLAIM_SQL, params, 16, len(params)))
            asyncio.run(_grant_again(dsn, stock))
    return max(0, missing)


async def _grant_again(dsn: str, offer_id: uuid.UUID) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE offer_eligibility SET claimed_at = NULL WHERE offer_id = $1", offer_id)
    finally:
        await conn.close()


def _redeem_lines(secret: str, codes: Sequence[str], stores: Sequence[uuid.UUID]) -> list[tuple[str, list[str]]]:
    """One line per redemption: the key, then the body, with the code as printed on the coupon."""
    return [
        (
            secret,
            [json.dumps({"code": display(code), "store_id": str(stores[i % len(stores)]), "order_amount": 12.5})],
        )
        for i, code in enumerate(codes)
    ]


@dataclass(frozen=True, slots=True)
class Redeemed:
    levels: list[Run]
    double: Run | None
    warmup_ok: int
    codes_left: list[str]


def redemption_runs(
    args: argparse.Namespace, binary: str, base_url: str, workdir: Path, observer: Observer, brand: Brand,
    stores: list[uuid.UUID], codes: list[str], commands: list[str],
) -> Redeemed:  # fmt: skip
    """Warm-up, the levels (distinct codes), and the double scan; the codes left over go to the floor."""

    def wrk_for(name: str, lines: list[tuple[str, list[str]]]) -> Wrk:
        wrk = Wrk(
            binary, base_url, workdir, lines, path="/v1/redemptions", script=ONCE_DRIVER, name=name, grace_s=GRACE_S
        )
        wrk.commands = commands  # one list of commands for the report
        return wrk

    def take(n: int) -> list[str]:
        nonlocal codes
        taken, codes = codes[:n], codes[n:]
        return taken

    warm = take(args.redeem_warmup)
    warmup_ok = 0
    if warm:
        print(f"warming up with {len(warm)} redemptions at 32 connections …", flush=True)
        warmup_ok = (
            wrk_for("redeem-warm", _redeem_lines(brand.admin_secret, warm, stores))
            .run("redemptions warm-up", 32, len(warm), args.duration_limit)
            .ok
        )
    levels = []
    for c in args.redeem_connections:
        mine = take(args.redeem_requests)
        wrk = wrk_for(f"redeem-{c}", _redeem_lines(brand.admin_secret, mine, stores))
        levels.append(observer.http(wrk, f"redemptions c={c}", c, len(mine), args.duration_limit))
    double = None
    if args.double_scan > 0:
        twice = take(args.double_scan)
        # Lines 2k and 2k+1 hold the same code: wrk's thread 0 gets the even lines and thread 1 the odd ones, both
        # in the same order, so each code is scanned by two connections at about the same moment.
        lines = [line for line in _redeem_lines(brand.admin_secret, twice, stores) for _ in range(2)]
        wrk = wrk_for("redeem-double", lines)
        label = f"double scan c={TARGET_CONNECTIONS}"
        double = observer.http(wrk, label, TARGET_CONNECTIONS, len(lines), args.duration_limit)
    return Redeemed(levels, double, warmup_ok, codes)


def redeem_floors(
    args: argparse.Namespace, observer: Observer, brand: Brand, stores: list[uuid.UUID], codes: list[str]
) -> list[Run]:
    """solomo_redeem_request on N connections, autocommit, distinct codes: what the API sends for each."""
    runs = []
    amount = Decimal(ORDER_AMOUNT)
    admin_hash = hash_secret(brand.admin_secret)
    for c in args.floor_connections:
        if len(codes) < c * (WARM_CALLS + 1):
            print(f"  redemption floor c={c}: skipped, {len(codes)} codes left", flush=True)
            continue
        warm_codes, codes = codes[: c * WARM_CALLS], codes[c * WARM_CALLS :]
        mine, codes = codes[: args.floor_requests], codes[args.floor_requests :]

        def call(i: int, code: str) -> tuple[Any, ...]:
            return (brand.id, brand.admin_key_id, admin_hash, normalize(code), stores[i % len(stores)], amount)

        params = [call(i, code) for i, code in enumerate(mine)]
        warm = [[call(i, code) for i, code in enumerate(warm_codes[k * WARM_CALLS : (k + 1) * WARM_CALLS])]
                for k in range(c)]  # fmt: skip
        runs.append(observer.floor(f"redeem floor c={c}", REDEEM_SQL, params, c, warm))
    return runs


# -- checks in the database ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferCheck:
    """What the database holds for one offer after its run, against what the client saw."""

    label: str
    cap: int | None
    seen: int  # claims answered 201 ("claimed" on the floor)
    coupons: int
    used: int  # sum(offer_capacity.used)
    slot_cap: int | None  # sum(offer_capacity.cap)
    counted: int  # sum(member_offer_claims.claimed)
    members_twice: int  # members holding more than one coupon of the offer (the limit is one)

    @property
    def over_issued(self) -> int:
        return max(0, self.coupons - self.cap) if self.cap is not None else 0

    @property
    def consistent(self) -> bool:
        return self.coupons == self.used == self.seen == self.counted and self.members_twice == 0


@dataclass(frozen=True, slots=True)
class RedemptionCheck:
    seen: int  # 201 answers and "redeemed" floor answers, warm-ups included
    redemptions: int
    live: int
    coupons_twice: int  # coupons with more than one live redemption
    audit: int  # coupon_audit rows for redemptions


async def check_offers(dsn: str, runs: Sequence[Run]) -> list[OfferCheck]:
    conn = await asyncpg.connect(dsn)
    try:
        checks = []
        for run in runs:
            assert run.offer is not None
            offer_id = run.offer.id
            row_ = await conn.fetchrow(
                """
                SELECT (SELECT count(*) FROM coupons WHERE offer_id = $1) AS coupons,
                       (SELECT sum(used) FROM offer_capacity WHERE offer_id = $1) AS used,
                       (SELECT sum(cap) FROM offer_capacity WHERE offer_id = $1) AS slot_cap,
                       (SELECT coalesce(sum(claimed), 0) FROM member_offer_claims WHERE offer_id = $1) AS counted,
                       (SELECT count(*) FROM (SELECT member_id FROM coupons WHERE offer_id = $1
                                              GROUP BY member_id HAVING count(*) > 1) AS t) AS members_twice
                """,
                offer_id,
            )
            checks.append(
                OfferCheck(
                    label=run.label,
                    cap=run.offer.cap,
                    seen=run.issued,
                    coupons=row_["coupons"],
                    used=row_["used"],
                    slot_cap=row_["slot_cap"],
                    counted=row_["counted"],
                    members_twice=row_["members_twice"],
                )
            )
        return checks
    finally:
        await conn.close()


async def check_redemptions(dsn: str, seen: int) -> RedemptionCheck:
    conn = await asyncpg.connect(dsn)
    try:
        row_ = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM redemptions) AS redemptions,
                   (SELECT count(*) FROM redemptions WHERE voided_at IS NULL) AS live,
                   (SELECT count(*) FROM (SELECT coupon_id FROM redemptions WHERE voided_at IS NULL
                                          GROUP BY coupon_id HAVING count(*) > 1) AS t) AS coupons_twice,
                   (SELECT count(*) FROM coupon_audit WHERE action = 'redeem') AS audit
            """
        )
        return RedemptionCheck(seen, row_["redemptions"], row_["live"], row_["coupons_twice"], row_["audit"])
    finally:
        await conn.close()


# -- report --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Results:
    claims: list[Run]
    paced: Run | None
    exhausted: Run | None
    claim_floors: list[Run]
    redeemed: Redeemed
    redeem_floors: list[Run]
    offer_checks: list[OfferCheck]
    redemption_check: RedemptionCheck
    settings: dict[str, str]
    counts: dict[str, int]
    seconds: dict[str, float]
    wrk_commands: list[str]


HTTP_HEADER = ["run", "sent", "201", "409", "other", "201/s", "answers/s", "p50 ms", "p90 ms", "p99 ms", "max ms",
               "new conns"]  # fmt: skip
HTTP_WIDTHS = [LABEL_WIDTH, 6, 6, 6, 5, 6, 9, 7, 7, 7, 8, 9]


def _http_row(run: Run) -> str:
    assert run.level is not None
    h = run.level.http
    conflicts = h.statuses.get("409", 0)
    other = h.responses - h.ok - conflicts + sum(h.socket_errors.values())
    answers = h.responses / h.seconds if h.seconds > 0 else 0.0
    return row(
        [run.label, h.sent, h.ok, conflicts, other, f"{h.rps:,.0f}", f"{answers:,.0f}", f"{h.p50_ms:.2f}",
         f"{h.p90_ms:.2f}", f"{h.p99_ms:.2f}", f"{h.max_ms:.1f}", run.level.new_sessions],
        HTTP_WIDTHS,
    )  # fmt: skip


def _http_notes(runs: Sequence[Run]) -> None:
    for run in runs:
        assert run.level is not None
        h = run.level.http
        if h.sent != h.responses:
            print(f"  {run.label}: {h.sent - h.responses} requests sent without an answer")
        if h.responses != h.ok + h.statuses.get("409", 0) or any(h.socket_errors.values()):
            print(f"  {run.label}: statuses {h.statuses}, socket errors {h.socket_errors}; first {h.sample_error!r}")
        elif h.statuses.get("409"):
            print(f"  {run.label}: first refusal {h.sample_error[:160]!r}")
        if h.late_sends:
            print(f"  {run.label}: {h.late_sends} sends over 1 ms behind schedule, largest {h.max_lag_ms:.1f} ms")


def _floor_row(run: Run) -> str:
    assert run.floor is not None
    f = run.floor
    return row(
        [run.label, f.queries, f"{f.qps:,.0f}", f"{f.p50_ms:.2f}", f"{f.p99_ms:.2f}",
         ", ".join(f"{k} {v}" for k, v in sorted(f.outcomes.items()))],
        [LABEL_WIDTH, 7, 8, 7, 7, 30],
    )  # fmt: skip


def report(args: argparse.Namespace, r: Results) -> None:
    http_runs = [*r.claims, *([r.paced] if r.paced else []), *([r.exhausted] if r.exhausted else [])]
    print(f"\n=== POST /v1/offers/{{id}}/claims through wrk (2 threads): a fresh offer per run, cap {args.cap:,}"
          " (exhaustion: its own cap), one coupon per member, each member's claim sent once ===")  # fmt: skip
    print(row(HTTP_HEADER, HTTP_WIDTHS))
    for run in http_runs:
        print(_http_row(run))
    print("  sent: claims sent (each answered: a thread stops only when all it sent is answered); 201/s, answers/s:")
    print("  over the time from the first answer to the last; other: other answers, and wrk's socket errors (its")
    print("  timeouts count answers after more than 2 s); new conns: sessions the server's pool opened meanwhile")
    _http_notes(http_runs)

    red_runs = [*r.redeemed.levels, *([r.redeemed.double] if r.redeemed.double else [])]
    if red_runs:
        print(f"\n=== POST /v1/redemptions through wrk (admin key, distinct codes as printed, {args.stores} stores"
              " in turn) ===")  # fmt: skip
        print(row(HTTP_HEADER, HTTP_WIDTHS))
        for run in red_runs:
            print(_http_row(run))
        if r.redeemed.double:
            print("  double scan: every code sent twice, by both wrk threads in the same order: one 201 and one 409"
                  " each expected")  # fmt: skip
        _http_notes(red_runs)

    floors = [*r.claim_floors, *r.redeem_floors]
    if floors:
        print("\n=== Floor: the SQL functions through asyncpg (N connections, N workers, autocommit, no HTTP) ===")
        print(row(["run", "calls", "calls/s", "p50 ms", "p99 ms", "answers"], [LABEL_WIDTH, 7, 8, 7, 7, 30]))
        for run in floors:
            print(_floor_row(run))
        print(f"  {CLAIM_SQL}   (claim: one member each, codes from new_coupon_code())")
        print(f"  {REDEEM_SQL}   (redeem: one code each)")

    _print_checks(r)
    _print_inside([*http_runs, *red_runs, *floors])
    _print_cpu(r, http_runs, red_runs, floors)
    _targets(r)
    _print_setup(args, r)


def _print_inside(runs: Sequence[Run]) -> None:
    print("\n=== Inside PostgreSQL during each run ===")
    print("multixacts made (a checkpoint before and after each run reads pg_control), and the benchmark database's")
    print("client backends by state, on average over snapshots of pg_stat_activity every 20 ms (CPU: active, no")
    print("wait event; idle in transaction: waiting for its client)")
    widths = [LABEL_WIDTH, 10, 11, 10, 0]
    print(row(["run", "multixacts", "per answer", "members", ""], widths) + "backends")
    for run in runs:
        if run.inside is None:
            continue
        answers = run.level.http.responses if run.level else run.floor.queries if run.floor else 0
        per = f"{run.inside.multixacts / answers:.2f}" if answers else "-"
        members = run.inside.multixact_members
        print(row([run.label, run.inside.multixacts, per, members, ""], widths) + run.inside.waits.summary())
    print("  members: multixact member slots written (one per locker listed, in every multixact)")


def _print_checks(r: Results) -> None:
    print("\n=== In the database after the runs ===")
    widths = [LABEL_WIDTH, 7, 9, 8, 9, 8, 14, 13, 14, 10]
    print(row(["offer", "cap", "201 seen", "coupons", "sum(used)", "sum(cap)", "member claims", "members 2+",
               "over-issuance", "all equal"], widths))  # fmt: skip
    for c in r.offer_checks:
        print(
            row(
                [c.label, f"{c.cap:,}" if c.cap else "none", c.seen, c.coupons, c.used, c.slot_cap, c.counted,
                 c.members_twice, c.over_issued, "yes" if c.consistent else "NO"],
                widths,
            )
        )  # fmt: skip
    print("  201 seen: claims answered 201 (floor: answered claimed); all equal: coupons = sum(used) = 201 seen =")
    print("  sum(member_offer_claims.claimed), and no member holds two coupons of the offer")
    over = sum(c.over_issued for c in r.offer_checks)
    print(f"over-issuance: {over}")
    x = r.redemption_check
    print(
        f"redemptions: {x.redemptions:,} rows, {x.live:,} live, {x.audit:,} audit rows; 201/redeemed answers seen"
        f" {x.seen:,} (warm-up included); coupons with more than one live redemption: {x.coupons_twice}"
    )
    print(f"double redemptions: {x.coupons_twice}")


def _print_cpu(r: Results, http_runs: list[Run], red_runs: list[Run], floors: list[Run]) -> None:
    print(f"\n=== CPU: cores busy on average ({os.cpu_count()} in all) and CPU ms per answer (floor: per call) ===")
    widths = [LABEL_WIDTH, *CPU_WIDTHS[1:]]
    print(row(CPU_HEADER, widths))
    for run in [*http_runs, *red_runs]:
        assert run.level is not None
        print(cpu_row(run.label, run.level.cpu, run.level.http.responses, widths))
    for run in floors:
        assert run.floor is not None
        assert run.floor.cpu is not None
        print(cpu_row(run.label, run.floor.cpu, run.floor.queries, widths, client_is_wrk=False))
    print_cpu_notes([run.level for run in [*http_runs, *red_runs] if run.level is not None])
    background = "; ".join(
        f"{run.label}: {run.level.db['checkpoints']} / {run.level.db['autovacuum']}"
        for run in [*http_runs, *red_runs]
        if run.level is not None
    )
    print(f"  checkpoints / autovacuum+autoanalyze runs during each: {background}")


def _at_target(runs: Sequence[Run]) -> Run | None:
    return next((run for run in runs if run.level and run.level.http.connections == TARGET_CONNECTIONS), None)


def _targets(r: Results) -> None:
    print("\n=== Targets (issue 7; goals, not gates) ===")
    hot = _at_target(r.claims)
    if hot and hot.level:
        h = hot.level.http
        print(f"≥ {TARGET_RPS:,.0f} claims/s durable on one hot offer at {TARGET_CONNECTIONS} connections:"
              f" {h.rps:,.0f}/s → {verdict(h.rps >= TARGET_RPS)}")  # fmt: skip
        print(f"p99 ≤ {TARGET_P99_MS:g} ms there: {h.p99_ms:.1f} ms → {verdict(h.p99_ms <= TARGET_P99_MS)}")
    if r.paced and r.paced.level:
        h = r.paced.level.http
        print(f"  (at the fixed rate of {h.rps:,.0f}/s: p50 {h.p50_ms:.1f} ms, p99 {h.p99_ms:.1f} ms)")
    over = sum(c.over_issued for c in r.offer_checks)
    exact = all(c.consistent for c in r.offer_checks)
    print(f"zero over-issuance, checked in the database: {over} over → {verdict(over == 0)};"
          f" coupons = slots used = 201s seen for every offer: {'yes' if exact else 'NO'}")  # fmt: skip
    if r.exhausted and r.exhausted.level and r.exhausted.offer:
        check = next(c for c in r.offer_checks if c.label == r.exhausted.label)
        h = r.exhausted.level.http
        cap = r.exhausted.offer.cap
        print(f"exhaustion: {h.sent:,} claims sent to an offer capped at {cap:,}: {h.ok:,} answered 201,"
              f" {h.statuses.get('409', 0):,} answered 409; {check.coupons:,} coupons in the database →"
              f" {'exactly the cap' if check.coupons == cap else 'NOT the cap'}")  # fmt: skip
    red = _at_target(r.redeemed.levels)
    if red and red.level:
        h = red.level.http
        print(f"redemptions at {TARGET_CONNECTIONS} connections: {h.rps:,.0f}/s, p99 {h.p99_ms:.1f} ms"
              f" (≥ {TARGET_RPS:,.0f}/s → {verdict(h.rps >= TARGET_RPS)}; p99 ≤ {TARGET_P99_MS:g} ms →"
              f" {verdict(h.p99_ms <= TARGET_P99_MS)});"
              f" double redemptions: {r.redemption_check.coupons_twice}")  # fmt: skip


def _print_setup(args: argparse.Namespace, r: Results) -> None:
    print_setup_head(r.settings)
    print(f"data: {r.counts}")
    print("set-up times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items()))
    pool = f"SOLOMO_DB_POOL_SIZE={args.pool_size}" if args.pool_size is not None else "the app's default pool"
    print(f"server: solomo run --workers {args.workers}, SOLOMO_LOG_LEVEL=WARNING, {pool}")
    print(f"offers: {SLOTS} capacity slots each (the offers service's), per_member 1; warm-ups: {args.warmup} claims")
    print(f"and {args.redeem_warmup} redemptions at 32 connections, not measured; each floor connection first makes"
          f" {WARM_CALLS} calls")  # fmt: skip
    print_wrk_commands(r.wrk_commands, "bench.claims")


# -- main ----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    binary = find_wrk()
    codec, signing_keys = signing_codec()
    seconds: dict[str, float] = {}
    with bench_database(args.keep, DATABASE) as bench:
        cluster, workdir, url, dsn = bench.cluster, bench.workdir, bench.url, bench.dsn
        started = time.perf_counter()
        if args.plan_cache_mode != "function":
            for name in ("solomo_claim_request", "solomo_redeem_request"):
                cluster.psql(f"ALTER FUNCTION {name} SET plan_cache_mode = {args.plan_cache_mode}", dbname=DATABASE)
        brand = asyncio.run(make_brand(url))
        members = asyncio.run(add_members(dsn, brand.id, args.members))
        tokens = [codec.mint(brand.id, member, 0)[0] for member in members]
        seconds["brand, members, tokens"] = time.perf_counter() - started
        settings = asyncio.run(server_settings(dsn))

        with api_server(url, signing_keys, args, workdir / "server.log") as server:
            started = time.perf_counter()
            stores, offers = make_offers(server.base_url, brand, args)
            granted = asyncio.run(grant_eligibility(dsn, brand.id, list(offers.values()), stores))
            seconds["stores, offers (API), eligibility, vacuum"] = time.perf_counter() - started
            counts = {"members": len(members), "stores": len(stores), "offers": len(offers), "eligibility": granted}
            print(f"API ready at {server.base_url}; {counts}", flush=True)
            meter = CpuMeter(server.pid, postmaster_pid(cluster.datadir))
            claims_wrk = Wrk(
                binary, server.base_url, workdir, [(t, []) for t in tokens], script=ONCE_DRIVER, grace_s=GRACE_S
            )
            observer = Observer(meter, dsn)
            levels, paced, exhausted = claim_runs(args, claims_wrk, observer, offers)
            floors = claim_floors(args, observer, brand.id, members, offers)

            needed = args.redeem_warmup + len(args.redeem_connections) * args.redeem_requests + args.double_scan
            needed += sum(args.floor_requests + c * WARM_CALLS for c in args.floor_connections)
            counts["coupons claimed through SQL for the redemptions"] = stock_up(dsn, brand, members, offers, needed)
            codes = asyncio.run(coupon_codes(dsn, brand.id))
            redeemed = redemption_runs(
                args, binary, server.base_url, workdir, observer, brand, stores, codes, claims_wrk.commands
            )
        red_floors = redeem_floors(args, observer, brand, stores, redeemed.codes_left)

        claim_checked = [*levels, *([paced] if paced else []), *([exhausted] if exhausted else []), *floors]
        offer_checks = asyncio.run(check_offers(dsn, claim_checked))
        red_runs = [*redeemed.levels, *([redeemed.double] if redeemed.double else []), *red_floors]
        seen = redeemed.warmup_ok + sum(run.issued for run in red_runs)
        seen += sum(run.floor.warm_outcomes.get("redeemed", 0) for run in red_floors if run.floor)
        redemption_check = asyncio.run(check_redemptions(dsn, seen))
        report(
            args,
            Results(
                levels, paced, exhausted, floors, redeemed, red_floors, offer_checks, redemption_check, settings,
                counts, seconds, claims_wrk.commands,
            ),
        )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, parse_args(argv))


if __name__ == "__main__":
    main()
