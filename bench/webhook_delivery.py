"""How fast one ``solomo worker`` delivers webhooks, alone on the machine: N pending messages to one endpoint at a
local receiver that answers 204 at once, timed from the worker's start until the last is delivered, with the CPU
the worker and PostgreSQL spent per message.

Prints figures; asserts nothing. Run: ``uv run python -m bench.webhook_delivery [--messages 5000]
[--concurrency 16]``. The receiver runs in this process (a threaded ``http.server``), so the "bench" column is
the receiver's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Sequence

import asyncpg

from bench.harness import CPU_HEADER, CPU_WIDTHS, add_server_options, bench_database, cpu_row, row, run_main
from bench.sysmon import CpuMeter, postmaster_pid
from bench.webhook_cost import receiver, worker

DATABASE = "solomo_bench_webhook_delivery"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_delivery",
        description="Messages per second one webhook worker delivers to a local receiver.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_server_options(parser)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=16, help="SOLOMO_WEBHOOK_CONCURRENCY")
    parser.add_argument("--limit-s", type=float, default=300.0, help="give up after this long")
    return parser.parse_args(argv)


async def seed(dsn: str, url: str, messages: int) -> None:
    """One brand, one endpoint, ``messages`` pending messages of a check-in event's size."""
    conn = await asyncpg.connect(dsn)
    try:
        brand = await conn.fetchval("INSERT INTO brands (name, timezone) VALUES ('bench', 'UTC') RETURNING id")
        endpoint = await conn.fetchval(
            "INSERT INTO webhook_endpoints (brand_id, url, secret) VALUES ($1, $2, $3) RETURNING id",
            brand,
            url,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        data = {k: str(uuid.uuid4()) for k in ("checkin_id", "member_id", "geofence_id", "store_id")}
        body = json.dumps({"type": "geofence.entered", "timestamp": "2026-12-02T10:00:00Z", "data": data})
        await conn.execute(
            "INSERT INTO webhook_messages (brand_id, endpoint_id, event_type, payload, next_attempt_at)"
            " SELECT $1, $2, 'geofence.entered', $3::jsonb, now() + interval '1 hour' FROM generate_series(1, $4)",
            brand,
            endpoint,
            body,
            messages,
        )
        await conn.execute("VACUUM ANALYZE webhook_messages")
    finally:
        await conn.close()


async def wait_delivered(dsn: str, messages: int, limit_s: float) -> tuple[float, int]:
    """Make every message due at once, then poll until all are delivered: (seconds, delivered)."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.monotonic()
        await conn.execute("UPDATE webhook_messages SET next_attempt_at = now()")
        await conn.execute("NOTIFY solomo_webhooks")
        delivered = 0
        while time.monotonic() - started < limit_s:
            delivered = await conn.fetchval("SELECT count(*) FROM webhook_messages WHERE status = 'delivered'")
            if delivered >= messages:
                break
            await asyncio.sleep(0.05)
        return time.monotonic() - started, delivered
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> None:
    with bench_database(args.keep, DATABASE) as bench, receiver() as port:
        asyncio.run(seed(bench.dsn, f"http://127.0.0.1:{port}/hook", args.messages))
        extra = {"SOLOMO_WEBHOOK_CONCURRENCY": str(args.concurrency)}
        with worker(bench.url, port, bench.workdir / "worker.log", extra) as pid:
            time.sleep(1.0)  # the worker connects and LISTENs; nothing is due yet
            meter = CpuMeter(pid, postmaster_pid(bench.cluster.datadir))
            with meter.measure() as box:
                seconds, delivered = asyncio.run(wait_delivered(bench.dsn, args.messages, args.limit_s))
    cpu = box[0]
    print(f"\n=== one worker, concurrency {args.concurrency}: {args.messages:,} messages to a local receiver ===")
    widths = [10, 10, 14]
    print(row(["delivered", "seconds", "messages/s"], widths))
    print(row([delivered, f"{seconds:.1f}", f"{delivered / seconds:,.0f}"], widths))
    print(row(CPU_HEADER, CPU_WIDTHS).replace("app", "wkr", 1))
    print(cpu_row("worker", cpu, max(delivered, 1)))
    print("  wkr: the worker process; bench: this process (the receiver); ms columns are per message")


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, parse_args(argv))


if __name__ == "__main__":
    main()
