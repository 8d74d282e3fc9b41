"""What gathering check-ins into one call would save in PostgreSQL: issue 16's "next design", measured first.

The API sends one statement per check-in (solomo_checkin_request, its own transaction). The alternative the issue
names gathers the check-ins a worker receives within a millisecond into one set-based call. Before building that
into the API, this measures its ceiling in the database alone, on a durable cluster with the bench data:

* ``bench_checkin_batch(...)`` (installed here, not by the product) runs solomo_checkin_request for each check-in
  of a batch in one statement and one transaction, members in id order (two batches never lock two members in
  opposite orders); with ``--savepoints`` each one in its own subtransaction, as a real batcher would need so
  that one failing check-in does not fail the others;
* batch size 1 is today's API statement; larger batches share one round trip, one plpgsql entry and one commit
  (one WAL flush) among their check-ins, but each check-in still does its own lookups and writes;
* ``synchronous_commit = off`` at batch size 1 shows what the commits alone cost (not a setting the product
  may use: a 201 must mean durable).

Prints check-ins/s and PostgreSQL CPU ms per check-in for each connection count and batch size. Asserts
nothing. Run: ``uv run python -m bench.checkin_batch [--fences 100000] [--batches 1,8,32,128] [--connections
4,16] [--savepoints] [--set plan_cache_mode=auto] [--perf 32]`` (about 5 minutes with the default 10⁵ fences).
``--set NAME=VALUE`` changes a server setting (ALTER SYSTEM, then a restart); ``--perf N`` samples every
PostgreSQL process with perf while the batches of N run and prints where their CPU went.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import numpy as np

from bench.dataset import MemberRoute, Size, interleaved_points, load, member_routes
from bench.harness import bench_database, run_main, signing_codec
from bench.sysmon import CpuMeter, CpuUse, postmaster_pid

DATABASE = "solomo_bench"

#: The gathering call: the API's statement for each check-in of the batch, in one transaction.
BATCH_FUNCTION = """
CREATE OR REPLACE FUNCTION bench_checkin_batch(
    p_brand uuid, p_members uuid[], p_lon double precision[], p_lat double precision[],
    p_accuracy double precision[], p_at timestamptz[], p_savepoints boolean
) RETURNS text[]
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_out text[] := array_fill(NULL::text, ARRAY[cardinality(p_members)]);
    v_answer jsonb;
    i integer;
BEGIN
    FOR i IN SELECT k FROM generate_subscripts(p_members, 1) AS k ORDER BY p_members[k], p_at[k] LOOP
        IF p_savepoints THEN
            BEGIN
                v_answer := solomo_checkin_request(p_brand, p_members[i], 0, 1000000000, 1000000000, NULL, NULL,
                                                   p_lon[i], p_lat[i], p_accuracy[i], p_at[i], false, 'bench');
            EXCEPTION WHEN OTHERS THEN
                v_answer := jsonb_build_object('status', 'failed', 'sqlstate', SQLSTATE);
            END;
        ELSE
            v_answer := solomo_checkin_request(p_brand, p_members[i], 0, 1000000000, 1000000000, NULL, NULL,
                                               p_lon[i], p_lat[i], p_accuracy[i], p_at[i], false, 'bench');
        END IF;
        v_out[i] := v_answer->>'status';
    END LOOP;
    RETURN v_out;
END;
$$;
"""
BATCH_SQL = "SELECT bench_checkin_batch($1, $2, $3, $4, $5, $6, $7)"


def counts(text: str) -> list[int]:
    """argparse type: comma-separated positive integers."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("each value must be at least 1")
    return values


Point = tuple[uuid.UUID, float, float, float, datetime]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.checkin_batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fences", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--cities", type=int, default=1000)
    parser.add_argument("--stores-per-city", type=int, default=10)
    parser.add_argument("--offers", type=int, default=24)
    parser.add_argument("--active-members", type=int, default=2000)
    parser.add_argument("--checkins", type=int, default=12_000, help="check-ins per measured run")
    parser.add_argument("--batches", type=counts, default=[1, 8, 32, 128])
    parser.add_argument("--connections", type=counts, default=[4, 16])
    parser.add_argument("--savepoints", action="store_true", help="each check-in in its own subtransaction")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a server setting (ALTER SYSTEM, restart)"
    )
    parser.add_argument(
        "--perf", type=int, default=0, metavar="BATCH", help="perf-sample PostgreSQL during the runs of this batch size"
    )
    return parser.parse_args(argv)


async def run_level(
    dsn: str, brand: uuid.UUID, points: list[Point], connections: int, batch: int, *, savepoints: bool, sync: bool
) -> tuple[int, float, Counter[str]]:
    """``connections`` clients sending batches of ``batch`` check-ins back to back; (check-ins, seconds, answers)."""
    settings = {} if sync else {"synchronous_commit": "off"}
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections, server_settings=settings)
    batches = [points[i : i + batch] for i in range(0, len(points), batch)]
    answers: Counter[str] = Counter()
    try:
        todo = iter(batches)

        async def client() -> None:
            async with pool.acquire() as conn:
                statement = await conn.prepare(BATCH_SQL)
                for chunk in todo:
                    members, lons, lats, accs, ats = (list(column) for column in zip(*chunk, strict=True))
                    out = await statement.fetchval(brand, members, lons, lats, accs, ats, savepoints)
                    answers.update(out)

        # Every connection opened and PostGIS loaded in it before the clock starts.
        async with pool.acquire() as conn:
            await conn.execute(BATCH_FUNCTION)
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return sum(len(b) for b in batches), elapsed, answers


def walk(routes: list[MemberRoute], start: datetime, count: int, offset: int) -> list[Point]:
    """Check-ins ``offset`` to ``offset + count`` of the members' walks (interleaved, wrapping around), recorded a
    millisecond apart from ``start``: one clock for the whole run, so each member's fixes only move forward."""
    steps = interleaved_points(routes)
    points = []
    for k in range(offset, offset + count):
        route, (lon, lat, acc) = steps[k % len(steps)]
        points.append((route.member_id, lon, lat, acc, start + timedelta(milliseconds=k)))
    return points


def perf_sampler(datadir: Path, workdir: Path) -> subprocess.Popen[bytes]:
    """perf sampling every PostgreSQL process (the postmaster's children, and those it starts) until stopped."""
    perf = shutil.which("perf")
    if perf is None:
        raise SystemExit("--perf needs perf (Debian package linux-perf)")
    command = [perf, "record", "-q", "-F", "499", "-o", str(workdir / "perf.data")]
    command += ["-u", "postgres"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    time.sleep(1.0)
    return proc


def perf_report(proc: subprocess.Popen[bytes], workdir: Path, top: int = 40) -> str:
    """Stops the sampler; returns the functions with the most samples (self time, all PostgreSQL processes)."""
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    perf = shutil.which("perf") or "perf"
    out = subprocess.run(  # noqa: S603
        [perf, "report", "-i", str(workdir / "perf.data"), "--stdio", "--no-children", "--sort", "dso,symbol",
         "--percent-limit", "0.4"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    lines = [line.rstrip(" -") for line in out.splitlines() if line.strip() and not line.startswith("#")]
    return "\n".join(lines[:top])


def run(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    codec, _ = signing_codec()
    with bench_database(False, DATABASE) as bench:
        size = Size(args.fences, args.members, args.cities, args.stores_per_city, args.offers)
        if args.set:
            for setting in args.set:
                name, _, value = setting.partition("=")
                bench.cluster.psql(f"ALTER SYSTEM SET {name} = '{value}'")
            bench.cluster.stop()
            bench.cluster.start()
            print(
                "settings:",
                bench.cluster.psql(
                    "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings "
                    "WHERE source = 'configuration file'",
                    dbname=DATABASE,
                ),
            )
        print(f"loading {args.fences:,} fences and {args.members:,} members …", flush=True)
        loaded = asyncio.run(load(bench.dsn, size, rng))
        routes = member_routes(loaded, codec, rng, args.active_members)
        meter = CpuMeter(0, postmaster_pid(bench.cluster.datadir))
        start = datetime.now(UTC)
        offset = 0
        # Warm-up (unmeasured): every member gets a history, so the runs below see enters, stays and exits.
        warm = walk(routes, start, 3 * len(routes), offset)
        offset += len(warm)
        asyncio.run(run_level(bench.dsn, loaded.brand_id, warm, 8, 8, savepoints=False, sync=True))
        print(
            f"\n{'connections':>11} {'batch':>5} {'commit':>6} {'check-ins/s':>11} {'PG CPU ms/check-in':>18} "
            f"{'client ms':>9}  answers",
            flush=True,
        )
        plan = [(c, b, True) for c in args.connections for b in args.batches]
        plan += [(c, 1, False) for c in args.connections]
        for connections, batch, sync in plan:
            points = walk(routes, start, args.checkins, offset)
            offset += len(points)
            sampler = perf_sampler(bench.cluster.datadir, bench.workdir) if batch == args.perf and sync else None
            with meter.measure() as box:
                done, seconds, answers = asyncio.run(
                    run_level(
                        bench.dsn, loaded.brand_id, points, connections, batch, savepoints=args.savepoints, sync=sync
                    )
                )
            if sampler is not None:
                print(perf_report(sampler, bench.workdir), flush=True)
            cpu: CpuUse = box[0]
            print(
                f"{connections:>11} {batch:>5} {'sync' if sync else 'async':>6} {done / seconds:>11,.0f} "
                f"{cpu.db * 1000 / done:>18.2f} {cpu.bench * 1000 / done:>9.2f}  {dict(answers)}",
                flush=True,
            )


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, parse_args(argv))


if __name__ == "__main__":
    main()
