"""The delivery worker on the real database: claims, retries on schedule, endpoint health, leases, several workers.

The schedule is driven by moving ``next_attempt_at`` (or ``failing_since``, ``claimed_until``) in the database
rather than by waiting minutes. Other tests' messages may be due in the same database: assertions look only at
this test's brand and receiver.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from standardwebhooks.webhooks import Webhook

from solomo.config import Settings
from solomo.webhooks.sender import Sender
from solomo.webhooks.worker import Worker
from tests.conftest import BrandContext
from tests.webhooks.receiver import Answer, Receiver, running_receiver
from tests.webhooks.test_signing import new_secret


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


@dataclasses.dataclass
class Hook:
    """An endpoint of the test's brand pointing at the test's receiver."""

    brand: BrandContext
    conn: asyncpg.Connection
    id: uuid.UUID
    secret: str

    async def message(self, body: str = '{"type": "webhook.test", "data": {}}') -> uuid.UUID:
        made: uuid.UUID = await self.conn.fetchval(
            "INSERT INTO webhook_messages (brand_id, endpoint_id, event_type, payload)"
            " VALUES ($1, $2, 'webhook.test', $3::jsonb) RETURNING id",
            self.brand.id,
            self.id,
            body,
        )
        return made

    async def state(self, message_id: uuid.UUID) -> asyncpg.Record:
        row = await self.conn.fetchrow(
            "SELECT status, attempts, next_attempt_at - now() AS due_in, claimed_until, delivered_at"
            " FROM webhook_messages WHERE brand_id = $1 AND id = $2",
            self.brand.id,
            message_id,
        )
        assert row is not None
        return row

    async def endpoint(self) -> asyncpg.Record:
        row = await self.conn.fetchrow(
            "SELECT enabled, disabled_reason, disabled_at, failing_since FROM webhook_endpoints"
            " WHERE brand_id = $1 AND id = $2",
            self.brand.id,
            self.id,
        )
        assert row is not None
        return row

    async def attempts(self, message_id: uuid.UUID) -> list[asyncpg.Record]:
        return list(
            await self.conn.fetch(
                "SELECT status_code, latency_ms, response_excerpt, error, delivered FROM webhook_attempts"
                " WHERE brand_id = $1 AND message_id = $2 ORDER BY attempted_at",
                self.brand.id,
                message_id,
            )
        )

    async def due_now(self, message_id: uuid.UUID) -> None:
        await self.conn.execute(
            "UPDATE webhook_messages SET next_attempt_at = now() WHERE brand_id = $1 AND id = $2",
            self.brand.id,
            message_id,
        )

    async def set(self, sql: str, *args: Any) -> None:
        await self.conn.execute(sql, self.brand.id, self.id, *args)


@pytest.fixture
async def hook(brand: BrandContext, conn: asyncpg.Connection, receiver: Receiver) -> Hook:
    secret = new_secret()
    endpoint_id = await conn.fetchval(
        "INSERT INTO webhook_endpoints (brand_id, url, secret) VALUES ($1, $2, $3) RETURNING id",
        brand.id,
        receiver.url(),
        secret,
    )
    return Hook(brand, conn, endpoint_id, secret)


@pytest.fixture
def worker_settings(settings: Settings, receiver: Receiver) -> Settings:
    return dataclasses.replace(receiver.settings(settings), webhook_lease_seconds=60, webhook_concurrency=8)


@pytest.fixture
def make_worker(database_url: str, worker_settings: Settings) -> Callable[..., Worker]:
    def make(timeout_s: float = 5.0, **changes: Any) -> Worker:
        chosen = dataclasses.replace(worker_settings, **changes)
        return Worker(database_url, chosen, sender=Sender(chosen, timeout_s=timeout_s), rand=lambda: 0.5)

    return make


async def once(make_worker: Callable[..., Worker], **options: Any) -> None:
    async with make_worker(**options) as worker:
        await worker.run_once()


async def test_a_due_message_is_sent_signed_and_recorded_as_delivered(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    message = await hook.message('{"type": "webhook.test", "data": {"n": 1}}')
    await once(make_worker)
    [got] = receiver.received
    assert got.headers["webhook-id"] == f"msg_{message.hex}"
    assert Webhook(hook.secret).verify(got.body, got.headers) == {"type": "webhook.test", "data": {"n": 1}}
    state = await hook.state(message)
    assert (state["status"], state["attempts"], state["due_in"], state["claimed_until"]) == ("delivered", 1, None, None)
    assert state["delivered_at"] is not None
    [attempt] = await hook.attempts(message)
    assert (attempt["status_code"], attempt["delivered"], attempt["error"], attempt["response_excerpt"]) == (
        200,
        True,
        None,
        "ok",
    )
    await once(make_worker)  # delivered: never sent again
    assert len(receiver.received) == 1


async def test_fails_twice_then_succeeds_with_the_same_id_on_the_schedule(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    receiver.script += [Answer(500, body=b"down"), Answer(502)]
    message = await hook.message()
    await once(make_worker)
    first = await hook.state(message)
    assert (first["status"], first["attempts"]) == ("pending", 1)
    assert timedelta(seconds=4) < first["due_in"] <= timedelta(seconds=5)  # 5 s (the test's jitter is 0)
    assert (await hook.endpoint())["failing_since"] is not None

    await once(make_worker)  # not due yet: nothing sent
    assert len(receiver.received) == 1

    await hook.due_now(message)
    await once(make_worker)
    second = await hook.state(message)
    assert (second["status"], second["attempts"]) == ("pending", 2)
    assert timedelta(seconds=295) < second["due_in"] <= timedelta(seconds=300)  # then 5 min

    await hook.due_now(message)
    await once(make_worker)
    assert (await hook.state(message))["status"] == "delivered"
    assert receiver.ids() == [f"msg_{message.hex}"] * 3
    assert [(a["status_code"], a["delivered"]) for a in await hook.attempts(message)] == [
        (500, False),
        (502, False),
        (200, True),
    ]
    assert (await hook.endpoint())["failing_since"] is None  # a success ends the failing spell


async def test_retry_after_asking_for_longer_is_honoured_and_capped(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    receiver.script += [
        Answer(503, headers=(("Retry-After", "3600"),)),
        Answer(429, headers=(("Retry-After", "999999"),)),
    ]
    message = await hook.message()
    await once(make_worker)
    assert timedelta(seconds=3595) < (await hook.state(message))["due_in"] <= timedelta(seconds=3600)
    await hook.due_now(message)
    await once(make_worker)
    assert timedelta(hours=10) - timedelta(seconds=5) < (await hook.state(message))["due_in"] <= timedelta(hours=10)


async def test_the_eighth_failure_fails_the_message(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    receiver.default = Answer(500)
    message = await hook.message()
    await hook.conn.execute("UPDATE webhook_messages SET attempts = 7 WHERE id = $1", message)
    await once(make_worker)
    state = await hook.state(message)
    assert (state["status"], state["attempts"], state["due_in"]) == ("failed", 8, None)


async def test_a_redirect_is_a_failed_attempt(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    receiver.script.append(Answer(301, headers=(("Location", "https://example.com/"),)))
    message = await hook.message()
    await once(make_worker)
    [attempt] = await hook.attempts(message)
    assert (attempt["status_code"], attempt["error"], attempt["delivered"]) == (301, "redirect", False)
    assert (await hook.state(message))["status"] == "pending"
    assert len(receiver.received) == 1


async def test_a_timeout_is_a_failed_attempt(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    receiver.script.append(Answer(200, delay_s=3))
    message = await hook.message()
    await once(make_worker, timeout_s=0.3)
    [attempt] = await hook.attempts(message)
    assert (attempt["status_code"], attempt["error"], attempt["delivered"]) == (None, "timeout", False)
    assert (await hook.state(message))["status"] == "pending"


async def test_410_disables_the_endpoint_and_its_messages_wait_until_it_is_enabled(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    receiver.script.append(Answer(410))
    first, second = await hook.message(), await hook.message()
    async with make_worker(webhook_concurrency=1) as worker:
        await worker.run_once()
        endpoint = await hook.endpoint()
        assert (endpoint["enabled"], endpoint["disabled_reason"]) == (False, "gone")
        assert endpoint["disabled_at"] is not None
        await hook.due_now(first)
        await worker.run_once()
        assert len(receiver.received) == 1  # a disabled endpoint is sent nothing
        assert {(await hook.state(m))["status"] for m in (first, second)} == {"pending"}

        await hook.set(
            "UPDATE webhook_endpoints SET enabled = true, disabled_reason = NULL, disabled_at = NULL,"
            " failing_since = NULL WHERE brand_id = $1 AND id = $2"
        )
        await worker.run_once()
        await worker.run_once()
    assert {(await hook.state(m))["status"] for m in (first, second)} == {"delivered"}


async def test_five_days_of_failures_disable_the_endpoint(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    receiver.default = Answer(500)
    await hook.set(
        "UPDATE webhook_endpoints SET failing_since = now() - interval '4 days 23 hours' WHERE brand_id = $1 AND id = $2"
    )
    message = await hook.message()
    await once(make_worker)
    assert (await hook.endpoint())["enabled"] is True  # failing, not yet for 5 days
    await hook.set(
        "UPDATE webhook_endpoints SET failing_since = now() - interval '5 days 1 minute' WHERE brand_id = $1 AND id = $2"
    )
    await hook.due_now(message)
    await once(make_worker)
    endpoint = await hook.endpoint()
    assert (endpoint["enabled"], endpoint["disabled_reason"]) == (False, "failing")
    assert (await hook.state(message))["status"] == "pending"


async def test_a_url_that_no_longer_passes_is_refused_at_send_time(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    message = await hook.message()
    await once(make_worker, webhook_allow_loopback=False)
    [attempt] = await hook.attempts(message)
    assert (attempt["error"], attempt["status_code"], attempt["delivered"]) == ("address_refused", None, False)
    assert receiver.received == []


async def test_a_killed_workers_message_is_sent_by_another_once_its_lease_ends(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    receiver.script.append(Answer(200, delay_s=30))  # the first worker never hears back
    message = await hook.message()
    async with make_worker() as killed:
        task = asyncio.create_task(killed.run_once())
        for _ in range(100):
            if receiver.received:
                break
            await asyncio.sleep(0.05)
        task.cancel()  # killed mid-send: its lease stays as a dead process would leave it
        with pytest.raises(asyncio.CancelledError):
            await task
    state = await hook.state(message)
    assert (state["status"], state["attempts"]) == ("pending", 0)
    assert state["claimed_until"] is not None

    async with make_worker() as other:
        await other.run_once()  # the lease still runs: not taken
        assert len(receiver.received) == 1
        await hook.conn.execute(
            "UPDATE webhook_messages SET claimed_until = now() - interval '1 second' WHERE id = $1", message
        )
        await other.run_once()
    assert (await hook.state(message))["status"] == "delivered"
    assert receiver.ids() == [f"msg_{message.hex}"] * 2


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not reached in time")


async def test_two_workers_never_send_the_same_message_twice(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    receiver.default = Answer(200, delay_s=0.1)
    messages = [await hook.message() for _ in range(40)]
    stop = asyncio.Event()
    async with make_worker(webhook_concurrency=4) as one, make_worker(webhook_concurrency=4) as two:
        runs = [asyncio.create_task(w.run(stop)) for w in (one, two)]

        async def all_delivered() -> bool:
            left: int = await hook.conn.fetchval(
                "SELECT count(*) FROM webhook_messages WHERE brand_id = $1 AND status <> 'delivered'", hook.brand.id
            )
            return left == 0

        try:
            await until(all_delivered)
        finally:
            stop.set()
            await asyncio.gather(*runs)
    assert sorted(receiver.ids()) == sorted(f"msg_{m.hex}" for m in messages)  # each once, none twice
    assert 4 < receiver.most_busy <= 8  # both workers sent at once, each within its concurrency


async def received_while_running(
    worker: Worker, receiver: Receiver, act: Callable[[], Awaitable[object]], *, seconds: float
) -> object:
    """Run ``worker`` in the background, ``act`` once it has found nothing of ours, and wait up to ``seconds`` for
    the receiver to get a request; what ``act`` answered."""
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.5)  # it has listened and found nothing of ours
        done = await act()

        async def arrived() -> bool:
            return bool(receiver.received)

        await until(arrived, seconds=seconds)
        return done
    finally:
        stop.set()
        await run


async def test_a_notify_wakes_the_worker_and_an_outbox_event_arrives(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    async with make_worker() as worker:
        worker.poll_seconds = 60  # only the NOTIFY can wake it in time
        # member.created: an outbox row and a NOTIFY, in one transaction
        member = await received_while_running(worker, receiver, hook.brand.member, seconds=10)
    [got] = receiver.received
    event = Webhook(hook.secret).verify(got.body, got.headers)
    assert event["type"] == "member.created"
    assert isinstance(member, dict)
    assert event["data"]["member_id"] == member["id"]


async def test_a_hot_path_outbox_row_is_found_by_the_poll_without_a_notify(
    hook: Hook, receiver: Receiver, make_worker: Callable[..., Worker]
) -> None:
    async def enqueue_as_the_hot_functions_do() -> object:  # a row, no NOTIFY
        return await hook.conn.fetchval(
            "SELECT solomo_webhook_enqueue($1, 'member.erased', NULL,"
            " jsonb_build_object('member_id', gen_random_uuid(), 'erased_at', now()))",
            hook.brand.id,
        )

    async with make_worker() as worker:  # the default poll: a quarter second
        assert await received_while_running(worker, receiver, enqueue_as_the_hot_functions_do, seconds=2)
    [got] = receiver.received
    assert Webhook(hook.secret).verify(got.body, got.headers)["type"] == "member.erased"
