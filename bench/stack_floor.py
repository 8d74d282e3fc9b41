"""The floor of the stack itself over HTTP: a minimal Litestar app behind granian, driven by wrk, on the bench data.

bench/app_path.py measures the app's CPU in-process (no HTTP server); bench/checkins.py the whole API. This
answers what the issue-16 targets need first: what do granian + Litestar + msgspec + asyncpg + wrk cost per
request on this machine when the app does nothing else, with PostgreSQL doing (a) only the fence lookup or (b) the
API's own statement (solomo_checkin_request)? If (a) cannot reach a throughput, no design of our app can.

The minimal app (``minimal_app``): one route, POST /v1/checkins; the body decoded by msgspec into a Struct; the
member found from the bearer token in a dict (no signature check); one asyncpg call; the answer encoded by
msgspec. Served like the API: granian, 2 workers, uvloop, no access log. Same walks and wrk driver
(bench/checkins.lua) as bench.checkins.

Run: ``uv run python -m bench.stack_floor [--fences 100000] [--connections 32] [--requests 20000]`` (about 4
minutes). Prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import numpy as np
from litestar import Litestar, Request, post

from bench.dataset import Size, load, member_routes
from bench.harness import bench_database, connection_list, free_port, measured, run_main, signing_codec, stop_group
from bench.loadgen import Wrk, find_wrk
from bench.sysmon import CpuMeter, postmaster_pid

DATABASE = "solomo_bench_stack"
_LOOKUP = (
    "SELECT coalesce(array_agg(fence_id), '{}') FROM solomo_fences_at($1, ST_SetSRID(ST_MakePoint($2, $3), 4326)"
    "::geography, $4, 50)"
)
_REQUEST = "SELECT solomo_checkin_request($1, $2, 0, 1000000000, 1000000000, NULL, NULL, $3, $4, $5, $6, false, NULL)"


class _Point(msgspec.Struct):
    type: str
    coordinates: tuple[float, float]


class _Body(msgspec.Struct):
    location: _Point
    accuracy_m: float
    recorded_at: datetime
    mocked: bool = False


class _Matched(msgspec.Struct):
    fences: list[uuid.UUID]


def minimal_app() -> Litestar:
    """granian's factory: the app reads its database, brand and members from the environment."""
    dsn = os.environ["SOLOMO_BENCH_DSN"]
    brand = uuid.UUID(os.environ["SOLOMO_BENCH_BRAND"])
    mode = os.environ["SOLOMO_BENCH_MODE"]
    members = {}
    for line in Path(os.environ["SOLOMO_BENCH_MEMBERS"]).read_text().splitlines():
        token, member = line.split("\t")
        members[f"Bearer {token}"] = uuid.UUID(member)
    pools: list[asyncpg.Pool] = []

    @post("/v1/checkins", status_code=201)
    async def checkin(request: Request[Any, Any, Any], data: _Body) -> Any:
        lon, lat = data.location.coordinates
        if mode == "lookup":
            fences = await pools[0].fetchval(_LOOKUP, brand, lon, lat, data.accuracy_m)
            return _Matched(fences)
        member = members[request.headers["authorization"]]
        answer: str = await pools[0].fetchval(_REQUEST, brand, member, lon, lat, data.accuracy_m, data.recorded_at)
        return msgspec.Raw(answer.encode())

    async def open_pool(_: Litestar) -> None:
        pools.append(await asyncpg.create_pool(dsn, min_size=8, max_size=8))

    return Litestar([checkin], on_startup=[open_pool], logging_config=None, openapi_config=None)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.stack_floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fences", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--active-members", type=int, default=2000)
    parser.add_argument("--connections", type=connection_list, default=[32])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--duration-limit", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--modes", default="lookup,request", help="what the app's one statement does: lookup, request")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--loop", "uvloop",
        "--workers", str(args.workers), "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        "bench.stack_floor:minimal_app",
    ]  # fmt: skip
    with log.open("wb") as sink:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter with fixed arguments
            command, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, f"http://127.0.0.1:{port}"


def run(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    codec, _ = signing_codec()
    wrk_binary = find_wrk()
    with bench_database(False, DATABASE) as bench:
        size = Size(args.fences, args.members, 1000, 10, 24)
        print(f"loading {args.fences:,} fences …", flush=True)
        loaded = asyncio.run(load(bench.dsn, size, rng))
        routes = member_routes(loaded, codec, rng, args.active_members)
        members_file = bench.workdir / "stack-members.tsv"  # not members.tsv: Wrk writes that
        members_file.write_text("".join(f"{r.token}\t{r.member_id}\n" for r in routes))
        print(
            f"\n{'app does':>9} {'conns':>5} {'requests/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
            f" {'app ms':>7} {'db ms':>6} {'wrk ms':>6} {'rest':>5}",
            flush=True,
        )
        for mode in args.modes.split(","):
            env = {
                "SOLOMO_BENCH_DSN": bench.dsn,
                "SOLOMO_BENCH_BRAND": str(loaded.brand_id),
                "SOLOMO_BENCH_MODE": mode,
                "SOLOMO_BENCH_MEMBERS": str(members_file),
            }
            log = bench.workdir / f"granian-{mode}.log"
            proc, base = serve(args, env, log)
            try:
                _wait_ready_post(base, proc, log)
                meter = CpuMeter(proc.pid, postmaster_pid(bench.cluster.datadir))
                wrk = Wrk(wrk_binary, base, bench.workdir, [(r.token, r.fragments()) for r in routes])
                wrk.run("warm-up", 32, 3000, args.duration_limit)
                for connections in args.connections:
                    level = measured(
                        wrk, meter, bench.dsn, f"{mode} {connections}", connections, args.requests, args.duration_limit
                    )
                    h, cpu = level.http, level.cpu
                    done = max(1, h.ok)
                    print(
                        f"{mode:>9} {connections:>5} {h.rps:>10,.0f} {h.p50_ms:>7.2f} {h.p99_ms:>7.2f} {h.errors:>6}"
                        f" {cpu.app * 1000 / done:>7.2f} {cpu.db * 1000 / done:>6.2f}"
                        f" {cpu.loadgen * 1000 / done:>6.2f} {cpu.share(cpu.rest):>5.2f}",
                        flush=True,
                    )
            finally:
                stop_group(proc, signal.SIGINT, grace_s=10)
        print("app/db/wrk ms: CPU per request; rest: cores used by other processes meanwhile")


def _wait_ready_post(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """granian is up when its port answers (the app has no health route: any HTTP answer will do)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"granian exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{base}/v1/checkins", timeout=2)  # noqa: S310 - our own http URL
        except urllib.error.HTTPError:
            return  # 405 for a GET: serving
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
            continue
        return
    raise RuntimeError(f"granian was not serving after 60 s:\n{log.read_text()[-3000:]}")


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, parse_args(argv))


if __name__ == "__main__":
    main()
