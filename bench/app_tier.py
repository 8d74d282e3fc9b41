"""The app tier against the worker count: POST /v1/checkins with 1, 2 and 4 API worker processes on one database.

Prints figures; asserts nothing. One run loads the check-in benchmark's data once (``bench.checkins``: 10⁵ fences,
10⁵ members, 24 offers by default), then for each worker count starts ``solomo run --workers N``, warms it up and
sends check-ins at a fixed number of connections with wrk, measuring check-ins/s, latency, the CPU each part took
(the app's processes, PostgreSQL's) per check-in and the WAL written per check-in; last, the floor in the same run:
the request function the API calls (``solomo_checkin_request``), called directly over asyncpg.

Run: ``uv run python -m bench.app_tier`` (about 6 minutes on 2 cores), or with ``--fences 5000 --members 5000
--cities 100 --requests 3000`` for a quick try. The other options are ``bench.checkins``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import time
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

WIDTHS = (7, 12, 8, 8, 9, 9, 10, 10, 10, 7)


@dataclass(frozen=True)
class WorkerRun:
    workers: int
    level: Level
    wal_bytes: int


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


async def _wal_lsn(dsn: str) -> int:
    """Where the WAL is now, in bytes (asyncpg reads a pg_lsn as its integer)."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT pg_current_wal_lsn()"))
    finally:
        await conn.close()


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
                start = asyncio.run(_wal_lsn(bench.dsn))
                level = measured(
                    wrk, meter, bench.dsn, f"{workers} workers", args.at_connections, args.requests, args.duration_limit
                )
                wal = asyncio.run(_wal_lsn(bench.dsn)) - start
                runs.append(WorkerRun(workers, level, wal))
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
               "WAL B/ci", "errors"], WIDTHS))  # fmt: skip
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
                    f"{r.wal_bytes / ok:,.0f}",
                    h.errors,
                ],
                WIDTHS,
            )
        )
    cpu_ms = floor.cpu.db * 1000 / floor.queries if floor.cpu and floor.queries else 0.0
    print(
        f"floor, the same run: solomo_checkin_request called directly at {floor.connections} connections:"
        f" {floor.qps:,.0f} calls/s, PostgreSQL {cpu_ms:.2f} ms CPU a call"
    )


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, parse_args(argv))


if __name__ == "__main__":
    main()
