"""The app tier against the worker count: POST /v1/checkins with 1, 2 and 4 API worker processes on one database.

Prints figures; asserts nothing. One run loads the check-in benchmark's data once (``bench.checkins``: 10⁵ fences,
10⁵ members, 24 offers by default), then for each worker count starts ``solomo run --workers N``, warms it up and
sends check-ins at a fixed number of connections with wrk, measuring check-ins/s, latency, the CPU each part took
(the app's processes, PostgreSQL's) per check-in, the WAL written and flushed per check-in (pg_stat_wal) and what
PostgreSQL's busy backends were doing (pg_stat_activity sampled every 50 ms: on the CPU, waiting on a lock, on the
WAL flush, on the client); last, the floor in the same run: the request function the API calls
(``solomo_checkin_request``), called directly over asyncpg.

Run: ``uv run python -m bench.app_tier`` (about 6 minutes on 2 cores), or with ``--fences 5000 --members 5000
--cities 100 --requests 3000`` for a quick try. The other options are ``bench.checkins``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np

from bench.checkins import DATABASE, request_function_floor
from bench.checkins import parse_args as checkin_args
from bench.dataset import Size, load, member_routes
from bench.harness import (
    FloorResult,
    Level,
    api_server,
    bench_database,
    measured,
    row,
    run_main,
    signing_codec,
)
from bench.loadgen import Wrk, find_wrk
from bench.sysmon import CpuMeter, postmaster_pid

WIDTHS = (7, 12, 8, 8, 9, 9, 10, 10, 9, 10, 7)
WAIT_WIDTHS = (7, 8, 8, 8, 8, 8, 8)
#: What a busy backend is doing, from pg_stat_activity's wait_event_type and wait_event.
_WAITS = """
SELECT CASE WHEN wait_event_type IS NULL THEN 'cpu'
            WHEN wait_event IN ('WALSync', 'WALWrite', 'WALInsert') OR wait_event LIKE 'WAL%' THEN 'wal'
            WHEN wait_event_type IN ('Lock', 'LWLock') THEN 'lock'
            WHEN wait_event_type = 'Client' THEN 'client'
            WHEN wait_event_type = 'IO' THEN 'io'
            ELSE 'other' END AS what, count(*) AS n
  FROM pg_stat_activity
 WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
 GROUP BY 1
"""
WAIT_KINDS = ("cpu", "wal", "lock", "io", "client", "other")


@dataclass(frozen=True)
class WorkerRun:
    workers: int
    level: Level
    waits: Counter[str]


class WaitSampler:
    """Samples pg_stat_activity every ``every_s`` on its own thread while a run lasts."""

    def __init__(self, dsn: str, every_s: float = 0.05) -> None:
        self.dsn = dsn
        self.every_s = every_s
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._sample()), daemon=True)

    async def _sample(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            while not self._stop.is_set():
                for r in await conn.fetch(_WAITS):
                    self.counts[r["what"]] += r["n"]
                await asyncio.sleep(self.every_s)
        finally:
            await conn.close()

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",")]
    if any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError("each worker count must be at least 1")
    return counts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker-counts", type=_counts, default=[1, 2, 4], help="API worker processes, e.g. 1,2,4")
    parser.add_argument("--at-connections", type=int, default=32, help="wrk connections for every worker count")
    own, rest = parser.parse_known_args(argv)
    args = checkin_args(rest)
    args.worker_counts, args.at_connections = own.worker_counts, own.at_connections
    return args


def run(args: argparse.Namespace) -> None:
    wrk_binary = find_wrk()
    rng = np.random.default_rng(args.seed)
    codec, signing_keys = signing_codec()
    runs: list[WorkerRun] = []
    with bench_database(args.keep, DATABASE) as bench:
        print(f"loading {args.fences:,} fences and {args.members:,} members …", flush=True)
        started = time.perf_counter()
        size = Size(args.fences, args.members, args.cities, args.stores_per_city, args.offers)
        loaded = asyncio.run(load(bench.dsn, size, rng))
        print(f"loaded in {time.perf_counter() - started:.1f} s: {loaded.counts}", flush=True)
        routes = member_routes(loaded, codec, rng, args.active_members)
        for workers in args.worker_counts:
            server_args = argparse.Namespace(**{**vars(args), "workers": workers})
            with api_server(bench.url, signing_keys, server_args, bench.workdir / f"server-{workers}.log") as server:
                meter = CpuMeter(server.pid, postmaster_pid(bench.cluster.datadir))
                wrk = Wrk(wrk_binary, server.base_url, bench.workdir, [(r.token, r.fragments()) for r in routes])
                print(f"{workers} worker(s): warming up with {args.warmup} check-ins …", flush=True)
                wrk.run("warm-up", args.at_connections, args.warmup, args.duration_limit)
                with WaitSampler(bench.dsn) as waits:
                    level = measured(
                        wrk, meter, bench.dsn, f"{workers} workers", args.at_connections, args.requests,
                        args.duration_limit,
                    )  # fmt: skip
                runs.append(WorkerRun(workers, level, waits.counts))
                print(f"  {level.http.rps:,.0f} check-ins/s", flush=True)
        meter = CpuMeter(-1, postmaster_pid(bench.cluster.datadir))  # no server now: PostgreSQL alone
        floor = request_function_floor(args, bench.dsn, loaded, routes, meter)
    report(args, runs, floor)


def report(args: argparse.Namespace, runs: list[WorkerRun], floor: FloorResult) -> None:
    print(
        f"\n=== Check-ins at {args.at_connections} connections by API worker processes"
        f" ({args.fences:,} fences, {args.members:,} members, {args.offers} offers; {args.requests:,} requests or"
        f" {args.duration_limit:g} s a run)"
    )
    print(row(["workers", "check-ins/s", "p50 ms", "p99 ms", "app cores", "PG cores", "app ms/ci", "PG ms/ci",
               "WAL B/ci", "flushes/ci", "errors"], WIDTHS))  # fmt: skip
    for r in runs:
        h, cpu = r.level.http, r.level.cpu
        ok = max(h.ok, 1)
        print(
            row(
                [
                    r.workers,
                    f"{h.rps:,.0f}",
                    f"{h.p50_ms:.1f}",
                    f"{h.p99_ms:.1f}",
                    f"{cpu.share(cpu.app):.2f}",
                    f"{cpu.share(cpu.db):.2f}",
                    f"{cpu.app * 1000 / ok:.2f}",
                    f"{cpu.db * 1000 / ok:.2f}",
                    f"{r.level.db['wal_bytes'] / ok:,.0f}",
                    f"{r.level.db['wal_sync'] / ok:.2f}",
                    h.errors,
                ],
                WIDTHS,
            )
        )
    print("\nPostgreSQL's busy backends, share of samples (every 50 ms): where the time goes as load rises")
    print(row(["workers", *WAIT_KINDS], WAIT_WIDTHS))
    for r in runs:
        total = max(sum(r.waits.values()), 1)
        print(row([r.workers, *(f"{r.waits[k] / total:.0%}" for k in WAIT_KINDS)], WAIT_WIDTHS))
    fpi = sum(r.level.db["wal_fpi"] for r in runs)
    print(f"(WAL per check-in includes full-page images after each checkpoint: {fpi:,} in these runs)")
    cpu_ms = floor.cpu.db * 1000 / floor.queries if floor.cpu and floor.queries else 0.0
    print(
        f"floor, the same run: solomo_checkin_request called directly at {floor.connections} connections:"
        f" {floor.qps:,.0f} calls/s, PostgreSQL {cpu_ms:.2f} ms CPU a call"
    )


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, parse_args(argv))


if __name__ == "__main__":
    main()
