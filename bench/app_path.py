"""The app's CPU per hot request, measured in-process: the ASGI app called directly (no HTTP server, no load
generator in the process), so the process's CPU time per check-in is the app's own cost: Litestar, the middleware,
the token check, the body, asyncpg's client side and the answer. PostgreSQL runs in its own processes and is not
counted. Beside it, in the same run, the floor of that figure: a minimal Litestar app whose one route makes the same
asyncpg call (the same request function, with the same arguments) and returns its text.

Run: ``uv run python -m bench.app_path [--requests 4000] [--concurrency 1,16]`` (about a minute: a small dataset of
5,000 fences). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import numpy as np
import uvloop
from litestar import Litestar, post

from bench.dataset import Size, interleaved_points, load, member_routes
from bench.harness import bench_database, signing_codec
from solomo.app import create_app
from solomo.config import get_settings
from solomo.ops.logs import JsonFormatter
from solomo.ops.metrics import RequestMetrics, prometheus_config

DATABASE = "solomo_bench_app_path"
_REQUEST = "SELECT solomo_checkin_request($1, $2, 0, 1000000000, 1000000000, NULL, NULL, $3, $4, $5, $6, false, NULL)"

Call = tuple[dict[str, Any], bytes]


class Body(msgspec.Struct):
    """The minimal app's check-in body."""

    location: dict[str, Any]
    accuracy_m: float
    recorded_at: datetime


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000, help="check-ins per measurement")
    parser.add_argument("--concurrency", default="1,16", help="requests in flight at once, comma-separated")
    parser.add_argument("--seed", type=int, default=20_261_202)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="event loop (granian: uvloop)")
    parser.add_argument(
        "--log-level", default="WARNING", help="SOLOMO_LOG_LEVEL of the app (INFO writes a request line each)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the cluster directory")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    return args


async def drive(app: Any, calls: list[Call], concurrency: int) -> tuple[float, dict[int, int]]:
    """CPU seconds of this process per request over ``calls``, ``concurrency`` at a time; the statuses seen."""
    statuses: dict[int, int] = {}
    queue = iter(calls)

    async def worker() -> None:
        for scope, body in queue:
            sent = False

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}  # noqa: B023

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses[message["status"]] = statuses.get(message["status"], 0) + 1

            await app(dict(scope, state={}), receive, send)

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / len(calls), statuses


def checkin_calls(routes: Any, start: datetime, count: int) -> list[Call]:
    """The bench walks as ASGI calls, members interleaved, recorded_at a millisecond apart from ``start``."""
    walks = interleaved_points(routes)
    calls = []
    for i in range(count):
        route, (lon, lat, acc) = walks[i % len(walks)]
        at = (start + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z")
        body = msgspec.json.encode(
            {"location": {"type": "Point", "coordinates": [lon, lat]}, "accuracy_m": acc, "recorded_at": at}
        )
        headers = [
            (b"host", b"bench"),
            (b"authorization", f"Bearer {route.token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/checkins",
            "raw_path": b"/v1/checkins",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        calls.append((scope, body))
    return calls


def minimal_app(dsn: str, brand: Any, members: dict[str, Any]) -> tuple[Litestar, Callable[[], Any]]:
    """One route, one asyncpg call of the same request function, its text as the answer: the floor."""
    pools: list[asyncpg.Pool] = []

    @post("/v1/checkins")
    async def checkin(data: Body, headers: dict[str, str]) -> bytes:
        member = members[headers["authorization"]]
        lon, lat = data.location["coordinates"]
        answer: str = await pools[0].fetchval(_REQUEST, brand, member, lon, lat, data.accuracy_m, data.recorded_at)
        return answer.encode()

    async def open_pool(_: Litestar) -> None:
        pools.append(await asyncpg.create_pool(dsn, min_size=8, max_size=8))

    async def close() -> None:
        await pools[0].close()

    return Litestar([checkin], on_startup=[open_pool], logging_config=None), close


class Lifespan:
    """The app's lifespan as a server runs it: started, kept running, and shut down."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.messages: asyncio.Queue[str] = asyncio.Queue()
        self.done: asyncio.Queue[str] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, str]:
        return {"type": f"lifespan.{await self.messages.get()}"}

    async def _send(self, message: dict[str, Any]) -> None:
        await self.done.put(message["type"])

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self._receive, self._send))
        await self.messages.put("startup")
        await self.done.get()

    async def stop(self) -> None:
        await self.messages.put("shutdown")
        await self.done.get()


async def measure(args: argparse.Namespace, dsn: str, url: str, loaded: Any, routes: Any, keys: str) -> None:
    settings = dataclasses.replace(
        get_settings(),
        database_url=url,
        member_token_keys=dict([keys.split(":", 1)]),
        member_token_active_kid=keys.split(":", 1)[0],
        rate_limit_member_per_second=1_000_000,
        rate_limit_key_per_second=1_000_000,
        stats_fold_seconds=0,
        log_level=args.log_level,
    )
    app = create_app(settings, database_url=url)
    members = {f"Bearer {r.token}": r.member_id for r in routes}
    floor_app, close_floor = minimal_app(dsn, loaded.brand_id, members)
    ours_running, floor_running = Lifespan(app), Lifespan(floor_app)
    await ours_running.start()
    await floor_running.start()
    start = datetime.now(UTC)
    # Every member's token once (each process verifies a token's signature the first time it sees it), and every
    # connection's prepared statements.
    warm = checkin_calls(routes, start - timedelta(hours=1), len(routes))
    print(f"warm-up: {(await drive(app, warm, 8))[1]} / {(await drive(floor_app, warm, 8))[1]}")
    print(
        f"\n=== CPU of this process per POST /v1/checkins, {args.requests} requests each, {args.loop},"
        f" log level {args.log_level} ==="
    )
    print(f"{'in flight':>9}  {'SoLoMo app ms':>13}  {'minimal app ms':>14}  {'ratio':>5}  statuses")
    for offset, concurrency in enumerate(args.concurrency, start=1):
        calls = checkin_calls(routes, start + timedelta(minutes=offset), args.requests)
        ours, statuses = await drive(app, calls, concurrency)
        calls = checkin_calls(routes, start + timedelta(minutes=offset, seconds=30), args.requests)
        floor, floor_statuses = await drive(floor_app, calls, concurrency)
        print(
            f"{concurrency:>9}  {ours * 1000:>13.3f}  {floor * 1000:>14.3f}  {ours / floor:>5.2f}"
            f"  {statuses} / {floor_statuses}"
        )
    await ours_running.stop()
    await floor_running.stop()
    await close_floor()


def log_line_cost(calls: int = 20_000) -> float:
    """CPU µs of one request log line (JSON, written to /dev/null)."""
    logger = logging.getLogger("solomo.request")
    sink = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - closed below
    sink.setFormatter(JsonFormatter())
    saved = (logger.handlers, logger.level, logger.propagate)
    logger.handlers, logger.propagate = [sink], False
    logger.setLevel(logging.INFO)
    extra = {"request_id": "0" * 32, "method": "POST", "route": "/v1/checkins", "status": 201, "duration_ms": 1.0}
    started = time.process_time()
    for _ in range(calls):
        logger.info("request", extra=extra)
    log_us = (time.process_time() - started) / calls * 1e6
    logger.handlers, logger.level, logger.propagate = saved
    sink.stream.close()
    return log_us


async def metrics_cost(calls: int = 20_000) -> float:
    """CPU µs per request of the Prometheus metrics, around an app that does nothing."""

    async def nothing(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})

    async def sent(_: Any) -> Any:
        return None

    metrics: Any = RequestMetrics(nothing, prometheus_config())
    scope = {"type": "http", "method": "POST", "path": "/v1/checkins", "path_template": "/v1/checkins"}
    started = time.process_time()
    for _ in range(calls):
        await metrics(dict(scope), sent, sent)
    return (time.process_time() - started) / calls * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    codec, keys = signing_codec()
    rng = np.random.default_rng(args.seed)
    with bench_database(args.keep, DATABASE) as bench:
        loaded = asyncio.run(load(bench.dsn, Size(5000, 5000, 100, 10, 24), rng))
        routes = member_routes(loaded, codec, rng, 2000)
        factory = uvloop.new_event_loop if args.loop == "uvloop" else asyncio.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(measure(args, bench.dsn, bench.url, loaded, routes, keys))
            metrics_us = runner.run(metrics_cost())
    log_us = log_line_cost()
    print(
        f"\nrequest log line (JSON, to /dev/null): {log_us:.1f} µs CPU per request; Prometheus metrics:"
        f" {metrics_us:.1f} µs (each alone, around an app that does nothing)"
    )


if __name__ == "__main__":
    main()
