"""The delivery worker (`solomo worker`; `solomo run` starts one too): outbox → messages → signed POSTs.

The loop: a round every quarter second, and at once on a NOTIFY on ``solomo_webhooks`` (LISTENed on a connection
of its own). The hot functions' outbox rows are found by the poll: they do not NOTIFY, since PostgreSQL commits
notifying transactions one at a time under a database-wide lock (solomo/webhooks/sql/webhook_enqueue.sql). Changes
made through the API (a void, member events, a replay, an endpoint enabled) NOTIFY, so they go out at once. An
idle round is two short statements. Each round turns the outbox
into messages (fan_out.py) until it is empty, then takes the due messages of enabled endpoints
``FOR UPDATE SKIP LOCKED`` and sets their lease (``claimed_until``) in one short transaction, sends them
concurrently (at most ``webhook_concurrency`` at once) outside any transaction, and records each attempt and the
message's new state in one short transaction per message.

Several workers run safely at once: SKIP LOCKED splits the due rows between them and the committed lease keeps
the others off a message while it is being sent; a worker killed mid-send leaves its lease, and another worker
sends the message once the lease has run out (the receiver may then see it twice: delivery is at least once,
and ``webhook-id`` is its idempotency key). The result of an attempt is written only while the lease that sent it
is still the message's, so a worker that lost its lease cannot overwrite the newer state.

Endpoint health: 2xx clears ``failing_since``; any failure sets it if unset (the first failure after a success);
a 410 disables the endpoint at once (``disabled_reason`` 'gone'), and failures lasting 5 days disable it
('failing'). Messages of a disabled endpoint stay ``pending`` and are not sent while it is disabled: they are not
taken at all, and enabling the endpoint again resumes them where their schedule was (overdue ones go at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from solomo.config import Settings
from solomo.db.pool import asyncpg_dsn
from solomo.webhooks.fan_out import fan_out
from solomo.webhooks.schedule import FAILING_LIMIT, retry_delay
from solomo.webhooks.sender import AttemptResult, EndpointForSending, Sender

logger = logging.getLogger("solomo.webhooks")
T = TypeVar("T")

CHANNEL = "solomo_webhooks"
#: A round every this many seconds even without a NOTIFY: the hot paths' outbox rows, retries coming due, a lost
#: listener. A quarter second keeps a check-in's webhook under half a second behind it, for 8 small statements a
#: second per idle worker.
POLL_SECONDS = 0.25
#: After a NOTIFY, wait this long before the round: under load every hot request commits a NOTIFY, and a round per
#: notification would cost the database a fan-out transaction per check-in. A tenth of a second gathers them into
#: one round (bench/webhook_cost.py --worker), and is nothing next to a webhook's own latency.
GATHER_SECONDS = 0.1
#: On shutdown, sends still running get this long to finish before they are cancelled (their leases released).
SHUTDOWN_GRACE_S = 15.0

_CLAIM = """
WITH due AS (
    SELECT m.brand_id, m.id
      FROM webhook_messages m
      JOIN webhook_endpoints e ON e.brand_id = m.brand_id AND e.id = m.endpoint_id
     WHERE m.status = 'pending'
       AND m.next_attempt_at <= now()
       AND (m.claimed_until IS NULL OR m.claimed_until < now())
       AND e.enabled
     ORDER BY m.next_attempt_at
     LIMIT $1
       FOR UPDATE OF m SKIP LOCKED
)
UPDATE webhook_messages m
   SET claimed_until = now() + make_interval(secs => $2)
  FROM due, webhook_endpoints e
 WHERE m.brand_id = due.brand_id AND m.id = due.id
   AND e.brand_id = m.brand_id AND e.id = m.endpoint_id
RETURNING m.brand_id, m.id, m.endpoint_id, m.payload::text AS body, m.attempts, m.claimed_until,
          e.url, e.secret, e.previous_secret, e.previous_secret_until
"""
# The message may have been deleted meanwhile (its endpoint deleted, or the member erased): the attempt is then
# not recorded. FOR KEY SHARE makes the check hold until commit, so a delete cannot slip in between the check and
# the foreign key's own check (which would fail the whole record).
_INSERT_ATTEMPT = """
INSERT INTO webhook_attempts (brand_id, message_id, endpoint_id, status_code, latency_ms, response_excerpt, error,
                              delivered)
SELECT $1, $2, $3, $4, $5, $6, $7, $8
 WHERE EXISTS (SELECT 1 FROM webhook_messages WHERE brand_id = $1 AND id = $2 FOR KEY SHARE)
"""
#: $4: 'delivered', 'failed' or 'pending'; $5: seconds until the next attempt (pending only).
_UPDATE_MESSAGE = """
UPDATE webhook_messages
   SET attempts = attempts + 1,
       last_attempt_at = now(),
       claimed_until = NULL,
       status = $4::text,
       delivered_at = CASE WHEN $4::text = 'delivered' THEN now() END,
       next_attempt_at = CASE WHEN $4::text = 'pending' THEN now() + make_interval(secs => $5) END
 WHERE brand_id = $1 AND id = $2 AND claimed_until = $3 AND status = 'pending'
"""
_ENDPOINT_HEALTHY = """
UPDATE webhook_endpoints SET failing_since = NULL WHERE brand_id = $1 AND id = $2 AND failing_since IS NOT NULL
"""
_ENDPOINT_FAILED = """
UPDATE webhook_endpoints SET failing_since = now() WHERE brand_id = $1 AND id = $2 AND failing_since IS NULL
"""
_ENDPOINT_DISABLE = """
UPDATE webhook_endpoints
   SET enabled = false,
       disabled_reason = CASE WHEN $3 THEN 'gone' ELSE 'failing' END,
       disabled_at = now(),
       updated_at = now()
 WHERE brand_id = $1 AND id = $2 AND enabled AND ($3 OR failing_since <= now() - $4::interval)
RETURNING disabled_reason
"""
_RELEASE = """
UPDATE webhook_messages m SET claimed_until = NULL
  FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS t(brand_id, id, lease)
 WHERE m.brand_id = t.brand_id AND m.id = t.id AND m.claimed_until = t.lease
"""


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message this worker holds the lease of, with what sending it needs."""

    brand_id: uuid.UUID
    id: uuid.UUID
    endpoint: EndpointForSending
    body: bytes
    attempts: int
    lease: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Claimed:
        endpoint = EndpointForSending(
            id=row["endpoint_id"],
            url=row["url"],
            secret=row["secret"],
            previous_secret=row["previous_secret"],
            previous_secret_until=row["previous_secret_until"],
        )
        return cls(row["brand_id"], row["id"], endpoint, row["body"].encode(), row["attempts"], row["claimed_until"])


def server_settings(settings: Settings) -> dict[str, str]:
    """The worker's sessions are bounded like the app's: a stuck lock or statement fails a round, which is retried."""
    return {
        "application_name": "solomo-webhooks",
        "jit": "off",
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "lock_timeout": str(settings.db_lock_timeout_ms),
        "idle_in_transaction_session_timeout": str(settings.db_idle_in_transaction_timeout_ms),
    }


class Worker:
    """One delivery worker. ``run()`` is the loop; ``run_once()`` is one round, for tests and scripts."""

    def __init__(
        self,
        database_url: str,
        settings: Settings,
        *,
        sender: Sender | None = None,
        poll_seconds: float = POLL_SECONDS,
        rand: Callable[[], float] = random.random,
        parent_pid: int | None = None,
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.settings = settings
        self.concurrency = max(1, settings.webhook_concurrency)
        self.lease_seconds = settings.webhook_lease_seconds
        self.poll_seconds = poll_seconds
        self._rand = rand
        self._sender = sender or Sender(settings, max_connections=self.concurrency)
        self._parent_pid = parent_pid
        self._pool: asyncpg.Pool | None = None

    async def __aenter__(self) -> Worker:
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=1,
            max_size=3,
            timeout=self.settings.db_connect_timeout_ms / 1000,
            server_settings=server_settings(self.settings),
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._sender.aclose()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "use the worker as an async context manager"
        return self._pool

    # -- one round ---------------------------------------------------------------------------
    async def fan_out_all(self) -> int:
        """Turn the whole outbox into messages; how many outbox rows that took."""
        total = 0
        async with self.pool.acquire() as conn:
            while consumed := await fan_out(conn):
                total += consumed
        return total

    async def claim(self, limit: int) -> list[Claimed]:
        """Take up to ``limit`` due messages and commit their lease (autocommit: the statement is the transaction)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(_CLAIM, limit, float(self.lease_seconds))
        return [Claimed.from_row(row) for row in rows]

    async def deliver(self, message: Claimed) -> AttemptResult:
        """Send one claimed message and record the attempt."""
        result = await self._sender.send(message.endpoint, message.id, message.body)
        await self.record(message, result)
        return result

    async def record(self, message: Claimed, result: AttemptResult) -> None:
        """The attempt, the message's new state and the endpoint's health, in one short transaction."""
        attempts = message.attempts + 1
        delay = None if result.delivered else retry_delay(attempts, result.retry_after_s, rand=self._rand)
        status = "delivered" if result.delivered else ("pending" if delay is not None else "failed")
        ids = (message.brand_id, message.id)
        endpoint = (message.brand_id, message.endpoint.id)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                _INSERT_ATTEMPT,
                *ids,
                message.endpoint.id,
                result.status_code,
                result.latency_ms,
                result.excerpt,
                result.error,
                result.delivered,
            )
            await conn.execute(_UPDATE_MESSAGE, *ids, message.lease, status, delay)
            if result.delivered:
                await conn.execute(_ENDPOINT_HEALTHY, *endpoint)
                return
            await conn.execute(_ENDPOINT_FAILED, *endpoint)
            reason = await conn.fetchval(_ENDPOINT_DISABLE, *endpoint, result.status_code == 410, FAILING_LIMIT)
        if reason is not None:
            logger.warning(
                "webhook endpoint disabled", extra={"endpoint_id": str(message.endpoint.id), "reason": reason}
            )

    async def run_once(self) -> int:
        """One round: the outbox into messages, then every due message (up to the concurrency) sent and recorded."""
        await self.fan_out_all()
        claimed = await self.claim(self.concurrency)
        await asyncio.gather(*(self.deliver(message) for message in claimed))
        return len(claimed)

    # -- the loop ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; then let sends in flight finish (a grace period) and release the rest."""
        wake = asyncio.Event()
        slot_freed = asyncio.Event()
        inflight: dict[asyncio.Task[AttemptResult], Claimed] = {}
        listener: asyncpg.Connection | None = None

        def done(task: asyncio.Task[AttemptResult]) -> None:
            inflight.pop(task, None)
            slot_freed.set()
            if not task.cancelled() and task.exception() is not None:
                logger.error("webhook delivery failed", exc_info=task.exception())

        try:
            while not stop.is_set() and not self._orphaned():
                listener = await self._listening(listener, wake)
                wake.clear()
                slot_freed.clear()
                free = self.concurrency - len(inflight)
                # Each step on its own: an outbox row fan_out cannot read must not hold up the messages already made.
                await _logged("fan-out", self.fan_out_all())
                claimed = (await _logged("claim", self.claim(free)) if free > 0 else None) or []
                for message in claimed:
                    task = asyncio.create_task(self.deliver(message))
                    inflight[task] = message
                    task.add_done_callback(done)
                # Full: go again as soon as a send ends. Otherwise: at a NOTIFY, or the poll.
                events = [stop, wake, slot_freed] if free <= len(claimed) else [stop, wake]
                await _first_of(events, self.poll_seconds)
                if wake.is_set() and not stop.is_set():
                    await _first_of([stop], GATHER_SECONDS)
        finally:
            await self._shut_down(inflight)
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()

    async def _listening(self, listener: asyncpg.Connection | None, wake: asyncio.Event) -> asyncpg.Connection | None:
        """The LISTEN connection, (re)opened when it is missing or lost; None while the database is unreachable."""
        if listener is not None and not listener.is_closed():
            return listener
        try:
            conn = await asyncpg.connect(
                self.dsn,
                timeout=self.settings.db_connect_timeout_ms / 1000,
                server_settings=server_settings(self.settings),
            )
            await conn.add_listener(CHANNEL, lambda *_: wake.set())
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            logger.warning("webhook worker cannot LISTEN; polling", extra={"error": repr(exc)})
            return None
        return conn

    async def _shut_down(self, inflight: dict[asyncio.Task[AttemptResult], Claimed]) -> None:
        if not inflight:
            return
        _, pending = await asyncio.wait(set(inflight), timeout=SHUTDOWN_GRACE_S)
        if not pending:
            return
        left = [inflight[task] for task in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # Another worker may send these at once rather than when their lease would have run out.
        with contextlib.suppress(Exception):
            async with self.pool.acquire() as conn:
                await conn.execute(_RELEASE, [m.brand_id for m in left], [m.id for m in left], [m.lease for m in left])

    def _orphaned(self) -> bool:
        """Started by `solomo run`, whose process is gone (killed): stop rather than run on unsupervised."""
        return self._parent_pid is not None and os.getppid() != self._parent_pid


async def _logged(step: str, work: Awaitable[T]) -> T | None:
    """``work``'s result, or None when it failed: logged, and the loop goes on (tried again at the next round)."""
    try:
        return await work
    except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
        logger.warning("webhook %s failed; trying again", step, extra={"error": repr(exc)})
    except Exception:  # a bug must not end delivery
        logger.exception("webhook %s failed unexpectedly; trying again", step)
    return None


async def _first_of(events: list[asyncio.Event], seconds: float) -> None:
    """Wait until one of ``events`` is set, or ``seconds``."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run_worker(database_url: str, settings: Settings, stop: asyncio.Event, **options: Any) -> None:
    """The `solomo worker` command's body: a worker running until ``stop`` is set."""
    async with Worker(database_url, settings, **options) as worker:
        logger.info("webhook worker started", extra={"concurrency": worker.concurrency, "pid": os.getpid()})
        await worker.run(stop)
    logger.info("webhook worker stopped")
