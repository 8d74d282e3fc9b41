"""What webhooks cost the check-in hot path: check-ins/s with no endpoint, and with one endpoint subscribed to every
event, back to back on the same data and server (issue 18: at most 10 % fewer).

Prints figures; asserts nothing. One run loads the check-in benchmark's data (bench/dataset.py: 10⁵ fences,
members walking in and out of their fences, a running campaign), serves the API with ``solomo run --workers 2``
and, for ``--rounds`` rounds, drives POST /v1/checkins with wrk at ``--connections`` with the brand's endpoint
absent, then present (rounds alternate, so a drift of the machine shows in both). With an endpoint every
check-in that fires an event writes one outbox row (solomo/webhooks/sql/webhook_enqueue.sql).

``--worker`` also runs ``solomo worker`` while the endpoint exists, delivering to a local receiver that answers
204 at once: the whole cost on this machine, fan-out and signing and sending included, since the worker shares
the two cores with the API and PostgreSQL. Without it the outbox only fills (what the hot path itself pays).

Run: ``uv run python -m bench.webhook_cost [--rounds 2] [--connections 32] [--requests 10000] [--worker]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import numpy as np

from bench.dataset import Size, load, member_routes
from bench.harness import (
    CPU_HEADER,
    CPU_WIDTHS,
    Level,
    add_server_options,
    api_server,
    bench_database,
    cpu_row,
    measured,
    row,
    run_main,
    signing_codec,
    stop_group,
)
from bench.loadgen import Wrk, find_wrk
from bench.sysmon import CpuMeter, postmaster_pid

DATABASE = "solomo_bench_webhooks"
#: At most this much slower with one endpoint subscribed to everything (issue 18).
TARGET_DROP = 0.10


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_cost",
        description="Check-ins/s without and with one webhook endpoint subscribed to every event.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_server_options(parser)
    parser.add_argument("--fences", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument(
        "--active-members", type=int, default=2_000, help="members whose walks wrk sends (as bench.checkins)"
    )
    parser.add_argument("--offers", type=int, default=24, help="active offers of the running campaign")
    parser.add_argument("--requests", type=int, default=10_000, help="check-ins per measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="pairs of runs (without, with an endpoint)")
    parser.add_argument("--warmup", type=int, default=3_000)
    parser.add_argument("--duration-limit", type=float, default=60.0)
    parser.add_argument("--worker", action="store_true", help="run `solomo worker` and a local receiver too")
    parser.add_argument("--seed", type=int, default=20_261_202)
    return parser.parse_args(argv)


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do: the worker reuses its connections
    received = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        with _Receiver.lock:
            _Receiver.received += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def receiver() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


@contextlib.contextmanager
def worker(url: str, port: int, log_path: Path, extra_env: dict[str, str] | None = None) -> Iterator[int]:
    """`solomo worker` in a session of its own (its pid is the session's id), allowed to send to the receiver."""
    solomo = Path(sys.executable).with_name("solomo")
    env = {
        **os.environ,
        "SOLOMO_DATABASE_URL": url,
        "SOLOMO_LOG_LEVEL": "WARNING",
        "SOLOMO_WEBHOOK_ALLOW_HTTP": "true",
        "SOLOMO_WEBHOOK_ALLOW_LOOPBACK": "true",
        "SOLOMO_WEBHOOK_ALLOWED_PORTS": str(port),
        **(extra_env or {}),
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own console script with fixed arguments
            [str(solomo), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc.pid
        finally:
            stop_group(proc, signal.SIGINT, grace_s=15)


async def set_endpoint(dsn: str, brand_id: uuid.UUID, url: str | None) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM webhook_endpoints WHERE brand_id = $1", brand_id)
        if url is not None:
            await conn.execute(
                "INSERT INTO webhook_endpoints (brand_id, url, secret) VALUES ($1, $2, $3)",
                brand_id,
                url,
                "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            )
    finally:
        await conn.close()


async def webhook_counts(dsn: str) -> tuple[int, int]:
    """Outbox rows ever written (the identity's sequence: the worker deletes rows) and messages made."""
    conn = await asyncpg.connect(dsn)
    try:
        written = await conn.fetchval(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM webhook_outbox_id_seq"
        )
        messages = await conn.fetchval("SELECT count(*) FROM webhook_messages")
        return int(written), int(messages)
    finally:
        await conn.close()


@dataclass(frozen=True, slots=True)
class Run:
    endpoint: bool
    level: Level
    outbox_rows: int
    messages: int


def run(args: argparse.Namespace) -> None:
    wrk_binary = find_wrk()
    rng = np.random.default_rng(args.seed)
    codec, signing_keys = signing_codec()
    with bench_database(args.keep, DATABASE) as bench, contextlib.ExitStack() as stack:
        print(f"loading {args.fences:,} fences and {args.members:,} members …", flush=True)
        loaded = asyncio.run(load(bench.dsn, Size(args.fences, args.members, 1_000, 10, args.offers), rng))
        routes = member_routes(loaded, codec, rng, min(args.active_members, args.members))
        port = stack.enter_context(receiver())
        hook_url = f"http://127.0.0.1:{port}/hook"
        server = stack.enter_context(api_server(bench.url, signing_keys, args, bench.workdir / "server.log"))
        if args.worker:
            stack.enter_context(worker(bench.url, port, bench.workdir / "worker.log"))
        # The worker runs in a session of its own: its CPU shows under "rest"; the receiver's under "bench".
        meter = CpuMeter(server.pid, postmaster_pid(bench.cluster.datadir))
        wrk = Wrk(wrk_binary, server.base_url, bench.workdir, [(r.token, r.fragments()) for r in routes])
        print(f"API ready; warming up with {args.warmup} check-ins …", flush=True)
        wrk.run("warm-up", args.connections, args.warmup, args.duration_limit)
        runs: list[Run] = []
        for round_ in range(args.rounds):
            for with_endpoint in (False, True):
                asyncio.run(set_endpoint(bench.dsn, loaded.brand_id, hook_url if with_endpoint else None))
                before = asyncio.run(webhook_counts(bench.dsn))
                label = f"round {round_ + 1}, {'one endpoint' if with_endpoint else 'no endpoint'}"
                level = measured(wrk, meter, bench.dsn, label, args.connections, args.requests, args.duration_limit)
                after = asyncio.run(webhook_counts(bench.dsn))
                runs.append(Run(with_endpoint, level, after[0] - before[0], after[1] - before[1]))
                print(f"  {label}: {level.http.rps:,.0f} check-ins/s, p99 {level.http.p99_ms:.1f} ms", flush=True)
        time.sleep(2 if args.worker else 0)
        delivered = _Receiver.received
    report(args, runs, delivered)


def report(args: argparse.Namespace, runs: list[Run], delivered: int) -> None:
    print(f"\n=== POST /v1/checkins at {args.connections} connections, {args.requests:,} each run ===")
    widths = [30, 11, 7, 7, 7, 12, 9]
    print(row(["run", "check-ins/s", "p50 ms", "p99 ms", "errors", "outbox rows", "messages"], widths))
    for r in runs:
        h = r.level.http
        print(row([h.label, f"{h.rps:,.0f}", f"{h.p50_ms:.2f}", f"{h.p99_ms:.2f}", h.errors, r.outbox_rows,
                   r.messages], widths))  # fmt: skip
    print(f"\n=== CPU: cores busy on average ({os.cpu_count()} in all) and CPU ms per check-in ===")
    print(row(CPU_HEADER, CPU_WIDTHS))
    for r in runs:
        print(cpu_row(r.level.http.label[:14], r.level.cpu, r.level.http.ok))
    if args.worker:
        print(f"  `solomo worker` runs in its own session (its CPU: rest); the receiver got {delivered:,} requests")
    without = [r.level.http.rps for r in runs if not r.endpoint]
    with_ = [r.level.http.rps for r in runs if r.endpoint]
    drop = 1 - (sum(with_) / len(with_)) / (sum(without) / len(without))
    verdict = "met" if drop <= TARGET_DROP else "MISSED"
    print(
        f"\nmean check-ins/s without an endpoint {sum(without) / len(without):,.0f}, with one"
        f" {sum(with_) / len(with_):,.0f}: {drop:+.1%} fewer (target ≤ {TARGET_DROP:.0%}) → {verdict}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, parse_args(argv))


if __name__ == "__main__":
    main()
