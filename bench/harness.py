"""What the benchmarks share: a private durable cluster, the API as a child process, clean exits on signals,
wrk runs measured with the CPU they cost, a direct-SQL floor through asyncpg, and table rows for the reports.

Used by bench/checkins.py and bench/claims.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
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
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg

from bench.loadgen import THREADS as WRK_THREADS
from bench.loadgen import HttpResult, Wrk
from bench.sysmon import CpuMeter, CpuUse
from solomo.auth.member_tokens import MemberTokenCodec
from solomo.config import Settings
from solomo.db.cluster import LocalCluster, ensure_postgis
from solomo.db.migrate import upgrade
from solomo.db.pool import asyncpg_dsn

#: Other processes taking more than this share of the machine during a measurement get a warning.
BUSY_WARNING = 0.10


# -- options and signals -------------------------------------------------------------------------


def connection_list(text: str) -> list[int]:
    """argparse type: comma-separated connection counts, each at least the number of wrk threads."""
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not levels or any(n < WRK_THREADS for n in levels):
        raise argparse.ArgumentTypeError(f"each connection count must be at least {WRK_THREADS} (wrk threads)")
    return levels


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """--workers, --pool-size (for api_server) and --keep (for bench_cluster)."""
    parser.add_argument("--workers", type=int, default=2, help="granian workers (solomo run --workers)")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=None,
        help="SOLOMO_DB_POOL_SIZE for the server (default: unset, the app's own default)",
    )
    parser.add_argument(
        "--statement-pool-size",
        type=int,
        default=None,
        help="SOLOMO_DB_STATEMENT_POOL_SIZE, the hot routes' connections per worker (default: the app's own)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the cluster directory (the server is stopped)")


class StopRequestedError(Exception):
    """SIGTERM or SIGHUP arrived: unwind through the same cleanup as Ctrl-C."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise StopRequestedError(signal.Signals(signum).name)


def run_main(run: Callable[[argparse.Namespace], None], args: argparse.Namespace) -> None:
    """``run(args)``; SIGTERM and SIGHUP unwind like Ctrl-C, through the context managers that stop the server
    and delete the cluster."""
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)
    try:
        run(args)
    except (KeyboardInterrupt, StopRequestedError) as exc:
        print(f"\ninterrupted ({type(exc).__name__} {exc}); server and cluster stopped", file=sys.stderr)
        sys.exit(130)


# -- cluster, server, tokens ---------------------------------------------------------------------


def stop_group(proc: subprocess.Popen[Any], sig: signal.Signals, grace_s: float) -> None:
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
class BenchDatabase:
    cluster: LocalCluster
    workdir: Path  # scratch space for the run's files (wrk's data and configs, the server's log)
    url: str  # SQLAlchemy's (the app's)
    dsn: str  # asyncpg's


@contextlib.contextmanager
def bench_database(keep: bool, name: str) -> Iterator[BenchDatabase]:
    """bench_cluster with one database, migrated to head, and a scratch directory; both deleted on the way out."""
    with bench_cluster(keep) as cluster, tempfile.TemporaryDirectory(prefix="solomo-bench-run-") as work:
        url = cluster.ensure_database(name)
        print(f"cluster: {cluster.datadir} (durable: fsync on); migrating …", flush=True)
        upgrade(url)
        yield BenchDatabase(cluster, Path(work), url, asyncpg_dsn(url))


@contextlib.contextmanager
def reused_database(datadir: Path, name: str) -> Iterator[BenchDatabase]:
    """The database a run with --keep left in ``datadir``: started, migrated to head, and stopped (kept) after."""
    cluster = LocalCluster(datadir, durable=True)
    if not cluster.initialized:
        raise SystemExit(f"no cluster in {datadir} (give the data directory a --keep run printed)")
    cluster.start()
    try:
        with tempfile.TemporaryDirectory(prefix="solomo-bench-run-") as work:
            url = cluster.url(name)
            print(f"cluster: {cluster.datadir} (kept; reused); migrating …", flush=True)
            upgrade(url)
            yield BenchDatabase(cluster, Path(work), url, asyncpg_dsn(url))
    finally:
        cluster.stop()
        print(f"cluster kept (stopped) in {cluster.datadir}")


@dataclass(frozen=True, slots=True)
class Server:
    base_url: str
    pid: int


@contextlib.contextmanager
def api_server(url: str, signing_keys: str, args: argparse.Namespace, log_path: Path) -> Iterator[Server]:
    """``solomo run`` (``args.workers``, ``args.pool_size``) as a child process in its own session; yields once
    /health/ready answers 200, and stops it (its whole session) on the way out."""
    port = free_port()
    solomo = Path(sys.executable).with_name("solomo")
    # --no-worker: the API alone is measured; a bench that wants webhook delivery runs `solomo worker` itself.
    command = [str(solomo), "run", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)]
    command.append("--no-worker")
    env = {
        **os.environ,
        "SOLOMO_DATABASE_URL": url,
        "SOLOMO_MEMBER_TOKEN_KEYS": signing_keys,
        "SOLOMO_LOG_LEVEL": "WARNING",  # request logs are INFO: one log line per request is not what we measure
        # One till key redeems hundreds of coupons a second here: budgets are still charged on every request (their
        # cost is measured), but set where they never refuse, since capacity is what we measure.
        "SOLOMO_RATE_LIMIT_KEY_PER_SECOND": "1000000",
        "SOLOMO_RATE_LIMIT_MEMBER_PER_SECOND": "1000000",
    }
    if args.pool_size is not None:
        env["SOLOMO_DB_POOL_SIZE"] = str(args.pool_size)
    if args.statement_pool_size is not None:
        env["SOLOMO_DB_STATEMENT_POOL_SIZE"] = str(args.statement_pool_size)
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own console script with fixed arguments
            [*command, "--no-migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_ready(base, proc, log_path)
            yield Server(base, proc.pid)
        finally:
            stop_group(proc, signal.SIGINT, grace_s=15)


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


def signing_codec() -> tuple[MemberTokenCodec, str]:
    """A fresh member-token signing key: the codec that mints with it, and SOLOMO_MEMBER_TOKEN_KEYS for the server."""
    kid, secret = "bench", uuid.uuid4().hex + uuid.uuid4().hex
    codec = MemberTokenCodec(
        {kid: secret},
        kid,
        issuer=Settings.member_token_issuer,
        audience=Settings.member_token_audience,
        ttl_seconds=6 * 3600,  # outlives the run; the server checks exp, not the TTL it would have minted with
    )
    return codec, f"{kid}:{secret}"


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


def measured(
    wrk: Wrk,
    meter: CpuMeter,
    dsn: str,
    label: str,
    connections: int,
    requests: int,
    limit_s: float,
    *,
    rate: float = 0.0,
    path: str | None = None,
) -> Level:
    """One wrk run (``Wrk.run``) with the CPU it cost and PostgreSQL's counters around it."""
    before = asyncio.run(db_counters(dsn))
    with meter.measure() as cpu:
        http = wrk.run(label, connections, requests, limit_s, rate=rate, path=path)
    after = asyncio.run(db_counters(dsn))
    return Level(http, cpu[0], {key: after[key] - before[key] for key in after})


@dataclass(frozen=True, slots=True)
class FloorResult:
    connections: int
    queries: int
    seconds: float
    p50_ms: float
    p99_ms: float
    rows_per_query: float
    cpu: CpuUse | None = None
    #: How many calls gave each answer (when the floor was given a way to tell them apart).
    outcomes: dict[str, int] = field(default_factory=dict)
    #: The same for the unmeasured warm-up calls (they write too, when the statement writes).
    warm_outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def qps(self) -> float:
        return self.queries / self.seconds


async def floor(
    dsn: str,
    sql: str,
    params: Sequence[tuple[Any, ...]],
    connections: int,
    queries: int,
    *,
    warm: Sequence[Sequence[tuple[Any, ...]]] = (),
    init: Callable[[Any], Awaitable[None]] | None = None,
    classify: Callable[[list[Any]], str] | None = None,
) -> FloorResult:
    """N connections, N workers, each sending ``sql`` back to back (a prepared statement per connection).

    The workers share one iterator over ``queries`` calls, taking ``params`` in turn (wrapping around). Worker
    k first makes the calls ``warm[k]`` (if given), unmeasured; the clock starts when every worker has.
    """
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections, init=init)
    try:
        latencies: list[int] = []
        rows = 0
        outcomes: Counter[str] = Counter()
        warm_outcomes: Counter[str] = Counter()
        counter = iter(range(queries))

        ready = asyncio.Barrier(connections + 1)
        go = asyncio.Event()

        async def worker(index: int) -> None:
            nonlocal rows
            async with pool.acquire() as conn:
                statement = await conn.prepare(sql)
                for args in warm[index] if index < len(warm) else ():
                    found = await statement.fetch(*args)
                    if classify is not None:
                        warm_outcomes[classify(found)] += 1
                await ready.wait()
                await go.wait()
                for i in counter:
                    args = params[i % len(params)]
                    started = time.perf_counter_ns()
                    found = await statement.fetch(*args)
                    latencies.append(time.perf_counter_ns() - started)
                    rows += len(found)
                    if classify is not None:
                        outcomes[classify(found)] += 1

        tasks = [asyncio.create_task(worker(k)) for k in range(connections)]
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
        outcomes=dict(outcomes),
        warm_outcomes=dict(warm_outcomes),
    )


@dataclass(frozen=True, slots=True)
class Waits:
    """What the benchmark database's client backends were doing, from snapshots of pg_stat_activity."""

    snapshots: int
    #: Backend-snapshots per state: "CPU" (active, no wait event), "Type:Event" (active, waiting on that),
    #: or "idle in transaction" (waiting for its client: the app, or the network).
    counts: dict[str, int]

    def summary(self, top: int = 6) -> str:
        """Backends in each state on average, busiest first."""
        if not self.snapshots:
            return "(no snapshots)"
        ranked = sorted(self.counts.items(), key=lambda item: -item[1])[:top]
        return ", ".join(f"{label} {n / self.snapshots:.1f}" for label, n in ranked)


_ACTIVITY = """
SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU')
            WHEN state LIKE 'idle in transaction%' THEN 'idle in transaction' ELSE state END
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
  AND state <> 'idle'
"""


async def _sample_waits(dsn: str, interval_s: float, stop: threading.Event, box: list[Waits]) -> None:
    conn = await asyncpg.connect(dsn)
    counts: Counter[str] = Counter()
    snapshots = 0
    try:
        while not stop.is_set():
            counts.update(r[0] for r in await conn.fetch(_ACTIVITY))
            snapshots += 1
            await asyncio.sleep(interval_s)
    finally:
        await conn.close()
        box.append(Waits(snapshots, dict(counts)))


@contextlib.contextmanager
def sampling_waits(dsn: str, interval_s: float = 0.02) -> Iterator[list[Waits]]:
    """``with sampling_waits(dsn) as box: …`` then ``box[0]``: pg_stat_activity every ``interval_s``, from a thread
    of its own (with its own connection and event loop), while the block runs."""
    stop = threading.Event()
    box: list[Waits] = []
    sampler = threading.Thread(target=lambda: asyncio.run(_sample_waits(dsn, interval_s, stop, box)), daemon=True)
    sampler.start()
    try:
        yield box
    finally:
        stop.set()
        sampler.join(timeout=30)


async def db_counters(dsn: str) -> dict[str, int]:
    """Cumulative server counters; their difference over a level says what PostgreSQL did meanwhile.

    sessions: connections opened on the benchmark database (this one excluded); checkpoints: timed or
    requested; autovacuum: automatic vacuums and analyzes of any table; wal_bytes, wal_fpi (full-page images) and
    wal_sync (WAL flushes to disk: commits that shared a flush count once) from pg_stat_wal.
    """
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            """
            SELECT (SELECT sessions - 1 FROM pg_stat_database WHERE datname = current_database()) AS sessions,
                   (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) AS checkpoints,
                   (SELECT sum(autovacuum_count + autoanalyze_count) FROM pg_stat_all_tables)::bigint AS autovacuum,
                   w.wal_bytes::bigint AS wal_bytes, w.wal_fpi AS wal_fpi, w.wal_sync AS wal_sync
            FROM pg_stat_wal w
            """
        )
        keys = ("sessions", "checkpoints", "autovacuum", "wal_bytes", "wal_fpi", "wal_sync")
        return {key: int(row[key] or 0) for key in keys}
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


def row(cells: Sequence[object], widths: Sequence[int]) -> str:
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


CPU_HEADER = ["run", "app", "db", "client", "rest", "idle", "app ms", "db ms", "client ms"]
CPU_WIDTHS = [14, 5, 5, 7, 5, 5, 9, 8, 12]


def cpu_row(
    label: str, cpu: CpuUse, per: int, widths: Sequence[int] = CPU_WIDTHS, *, client_is_wrk: bool = True
) -> str:
    """Cores busy on average per part, then CPU milliseconds per request (or per query) for the main parts."""
    client = cpu.loadgen if client_is_wrk else cpu.bench

    def ms(seconds: float) -> str:
        return f"{seconds * 1000 / per:.2f}" if per else "-"

    shares = [f"{cpu.share(x):.2f}" for x in (cpu.app, cpu.db, client, cpu.rest)]
    return row([label, *shares, f"{cpu.idle:.2f}", ms(cpu.app), ms(cpu.db), ms(client)], widths)


def print_setup_head(settings: dict[str, str]) -> None:
    print("\n=== Set-up ===")
    print(f"machine: {os.cpu_count()} CPUs; app, database and load generator share them")
    print("database: " + ", ".join(f"{k}={v}" for k, v in settings.items()))


def print_wrk_commands(commands: Sequence[str], module: str) -> None:
    """How wrk measures latency, the wrk commands run, and the command that ran the benchmark."""
    print("latencies are wrk's, from sending a request to its answer (wrk adds samples for answers slower than")
    print("twice the mean interval between a connection's requests, its coordinated-omission correction)")
    print("\nwrk commands:")
    for command in commands:
        print(f"  {command}")
    print(f"\ncommand: uv run python -m {module} {shlex.join(sys.argv[1:])}".rstrip())


def print_cpu_notes(levels: Sequence[Level]) -> None:
    """What the CPU table's columns mean, and a warning for measurements during which other processes took more
    than BUSY_WARNING of the machine."""
    print("  app: solomo run (granian workers); db: PostgreSQL; client: wrk (API) or this process (floor);")
    print("  rest: other processes on the machine and interrupts")
    busy = [lv for lv in levels if lv.cpu.share(lv.cpu.rest) > BUSY_WARNING * lv.cpu.cores]
    if busy:
        print(f"  WARNING: other processes took over {BUSY_WARNING:.0%} of the machine during"
              f" {', '.join(lv.http.label for lv in busy)}: those figures are low")  # fmt: skip
