"""An endpoint's deliveries (messages and their attempts), replays, and the test event against a local receiver."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from solomo.config import Settings
from tests.conftest import BrandContext
from tests.limited_app import limited_client
from tests.webhooks.receiver import Answer, Receiver, running_receiver

BASE = "/v1/webhook-endpoints"
NOW = datetime.now(UTC)


async def _endpoint(brand: BrandContext, url: str = "https://crm.example.com/hook") -> dict[str, Any]:
    response = await brand.client.post(BASE, json={"url": url}, headers=brand.admin)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _message(
    brand: BrandContext,
    endpoint_id: str,
    *,
    event_type: str = "coupon.claimed",
    status: str = "pending",
    attempts: int = 0,
    created_at: datetime = NOW,
    answers: tuple[int | None, ...] = (),
) -> str:
    """A message row (and one attempt row per answer, oldest first: a status code, or None for a timeout)."""
    message_id = uuid.uuid4()
    payload = {"type": event_type, "timestamp": created_at.isoformat(), "data": {"n": 1}}
    async with brand.sessions() as session:
        await session.execute(
            text(
                "INSERT INTO webhook_messages (brand_id, id, endpoint_id, event_type, payload, status, attempts,"
                " next_attempt_at, last_attempt_at, delivered_at, created_at)"
                " VALUES (:b, :id, :e, :t, CAST(:p AS jsonb), :s, :a, :next, :last, :delivered, :c)"
            ),
            {
                "b": brand.id,
                "id": message_id,
                "e": uuid.UUID(endpoint_id),
                "t": event_type,
                "p": json.dumps(payload),
                "s": status,
                "a": attempts,
                "next": NOW + timedelta(minutes=5) if status == "pending" else None,
                "last": created_at + timedelta(seconds=len(answers)) if attempts else None,
                "delivered": created_at + timedelta(seconds=len(answers)) if status == "delivered" else None,
                "c": created_at,
            },
        )
        for n, code in enumerate(answers):
            await session.execute(
                text(
                    "INSERT INTO webhook_attempts (brand_id, message_id, endpoint_id, attempted_at, status_code,"
                    " latency_ms, response_excerpt, error, delivered)"
                    " VALUES (:b, :m, :e, :at, :code, :ms, :excerpt, :error, :ok)"
                ),
                {
                    "b": brand.id,
                    "m": message_id,
                    "e": uuid.UUID(endpoint_id),
                    "at": created_at + timedelta(seconds=n + 1),
                    "code": code,
                    "ms": 100 + n,
                    "excerpt": None if code is None else f"answer {n}",
                    "error": "timeout" if code is None else None,
                    "ok": code is not None and 200 <= code < 300,
                },
            )
        await session.commit()
    return f"msg_{message_id.hex}"


async def _row(brand: BrandContext, wire_id: str) -> dict[str, Any]:
    async with brand.sessions() as session:
        row = (
            await session.execute(
                text("SELECT * FROM webhook_messages WHERE brand_id = :b AND id = :m"),
                {"b": brand.id, "m": uuid.UUID(hex=wire_id.removeprefix("msg_"))},
            )
        ).one()
    return dict(row._mapping)


async def test_deliveries_newest_first_with_their_attempts(brand: BrandContext) -> None:
    endpoint = await _endpoint(brand)
    path = f"{BASE}/{endpoint['id']}/deliveries"
    old = await _message(
        brand,
        endpoint["id"],
        status="delivered",
        attempts=3,
        created_at=NOW - timedelta(hours=2),
        answers=(500, None, 204),
    )
    failed = await _message(
        brand, endpoint["id"], event_type="geofence.entered", status="failed", attempts=8, created_at=NOW - timedelta(hours=1),
        answers=(503,) * 8,
    )  # fmt: skip
    pending = await _message(brand, endpoint["id"], event_type="member.created")
    response = await brand.client.get(path, headers=brand.admin)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["id"] for item in items] == [pending, failed, old]
    first = items[2]
    assert first["event_type"] == "coupon.claimed"
    assert first["status"] == "delivered"
    assert first["attempts"] == 3
    assert first["delivered_at"] is not None
    history = first["attempt_history"]
    assert [a["status_code"] for a in history] == [204, None, 500]  # newest first
    assert [a["delivered"] for a in history] == [True, False, False]
    assert history[1]["error"] == "timeout"
    assert history[0]["response_excerpt"] == "answer 2"
    assert history[0]["latency_ms"] == 102
    assert items[0]["attempt_history"] == []
    assert items[0]["next_attempt_at"] is not None
    assert "payload" not in first  # the body is on the message's own page

    by_status = await brand.client.get(path, params={"status": "failed"}, headers=brand.admin)
    assert [item["id"] for item in by_status.json()["items"]] == [failed]
    by_type = await brand.client.get(path, params={"event_type": "member.created"}, headers=brand.admin)
    assert [item["id"] for item in by_type.json()["items"]] == [pending]
    bad = await brand.client.get(path, params={"status": "lost"}, headers=brand.admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "status"

    page = (await brand.client.get(path, params={"limit": 2}, headers=brand.admin)).json()
    assert [item["id"] for item in page["items"]] == [pending, failed]
    rest = await brand.client.get(path, params={"limit": 2, "cursor": page["next_cursor"]}, headers=brand.admin)
    assert [item["id"] for item in rest.json()["items"]] == [old]
    assert rest.json()["next_cursor"] is None


async def test_one_message_with_its_body(brand: BrandContext, other_brand: BrandContext) -> None:
    endpoint = await _endpoint(brand)
    wire_id = await _message(brand, endpoint["id"], answers=(500,))
    response = await brand.client.get(f"{BASE}/{endpoint['id']}/messages/{wire_id}", headers=brand.admin)
    assert response.status_code == 200, response.text
    message = response.json()
    assert message["id"] == wire_id
    assert message["payload"]["type"] == "coupon.claimed"
    assert [a["status_code"] for a in message["attempt_history"]] == [500]
    missing = await brand.client.get(f"{BASE}/{endpoint['id']}/messages/msg_{uuid.uuid4().hex}", headers=brand.admin)
    assert missing.status_code == 404
    malformed = await brand.client.get(f"{BASE}/{endpoint['id']}/messages/msg_nothex", headers=brand.admin)
    assert malformed.status_code == 422
    # Another endpoint's message, even the brand's own, is not found under this one.
    other = await _endpoint(brand)
    assert (await brand.client.get(f"{BASE}/{other['id']}/messages/{wire_id}", headers=brand.admin)).status_code == 404
    theirs = await _endpoint(other_brand)
    their_message = await _message(other_brand, theirs["id"])
    stolen = await brand.client.get(f"{BASE}/{endpoint['id']}/messages/{their_message}", headers=brand.admin)
    assert stolen.status_code == 404


async def test_replay_one_requeues_it_and_keeps_its_history(brand: BrandContext) -> None:
    endpoint = await _endpoint(brand)
    wire_id = await _message(brand, endpoint["id"], status="failed", attempts=8, answers=(500,) * 8)
    path = f"{BASE}/{endpoint['id']}/messages/{wire_id}/replay"
    response = await brand.client.post(path, headers=brand.admin)
    assert response.status_code == 202, response.text
    replayed = response.json()
    assert replayed["status"] == "pending"
    assert replayed["attempts"] == 0
    assert len(replayed["attempt_history"]) == 8
    row = await _row(brand, wire_id)
    assert (row["status"], row["attempts"], row["delivered_at"]) == ("pending", 0, None)
    assert abs(row["next_attempt_at"] - datetime.now(UTC)) < timedelta(seconds=30)

    delivered = await _message(brand, endpoint["id"], status="delivered", attempts=1, answers=(200,))
    again = await brand.client.post(f"{BASE}/{endpoint['id']}/messages/{delivered}/replay", headers=brand.admin)
    assert again.status_code == 202
    assert (await _row(brand, delivered))["status"] == "pending"  # a delivered message can be sent again too
    missing = await brand.client.post(
        f"{BASE}/{endpoint['id']}/messages/msg_{uuid.uuid4().hex}/replay", headers=brand.admin
    )
    assert missing.status_code == 404


async def test_replay_since_requeues_what_was_created_since(brand: BrandContext) -> None:
    endpoint = await _endpoint(brand)
    before = await _message(brand, endpoint["id"], status="failed", attempts=8, created_at=NOW - timedelta(days=2))
    failed = await _message(brand, endpoint["id"], status="failed", attempts=8, created_at=NOW - timedelta(hours=3))
    delivered = await _message(
        brand, endpoint["id"], status="delivered", attempts=1, created_at=NOW - timedelta(hours=2)
    )
    other = await _endpoint(brand)
    elsewhere = await _message(brand, other["id"], status="failed", attempts=8, created_at=NOW - timedelta(hours=1))
    path = f"{BASE}/{endpoint['id']}/replay"
    since = (NOW - timedelta(days=1)).isoformat()

    only_failed = await brand.client.post(path, json={"since": since, "only_failed": True}, headers=brand.admin)
    assert only_failed.status_code == 202, only_failed.text
    assert only_failed.json() == {"queued": 1}
    assert (await _row(brand, failed))["status"] == "pending"
    assert (await _row(brand, delivered))["status"] == "delivered"

    everything = await brand.client.post(path, json={"since": since}, headers=brand.admin)
    assert everything.json() == {"queued": 2}
    assert (await _row(brand, delivered))["status"] == "pending"
    assert (await _row(brand, before))["status"] == "failed"  # older than since
    assert (await _row(brand, elsewhere))["status"] == "failed"  # another endpoint's

    naive = await brand.client.post(path, json={"since": "2026-01-01T00:00:00"}, headers=brand.admin)
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "since"


async def test_replay_of_a_disabled_endpoint_is_a_conflict(brand: BrandContext) -> None:
    endpoint = await _endpoint(brand)
    wire_id = await _message(brand, endpoint["id"], status="failed", attempts=8)
    await brand.client.patch(f"{BASE}/{endpoint['id']}", json={"enabled": False}, headers=brand.admin)
    for path, body in (
        (f"{BASE}/{endpoint['id']}/messages/{wire_id}/replay", None),
        (f"{BASE}/{endpoint['id']}/replay", {"since": (NOW - timedelta(days=1)).isoformat()}),
    ):
        response = await brand.client.post(path, json=body, headers=brand.admin)
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "endpoint_disabled"
    assert (await _row(brand, wire_id))["status"] == "failed"


# -- the test event ------------------------------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


@pytest.fixture
async def local(settings: Settings, database_url: str, receiver: Receiver) -> AsyncIterator[Any]:
    """An app that may send to the receiver: http, loopback, and its port allowed (the test-only settings)."""
    allowed = receiver.settings(settings)
    async with limited_client(
        settings,
        database_url,
        webhook_allow_http=allowed.webhook_allow_http,
        webhook_allow_loopback=allowed.webhook_allow_loopback,
        webhook_allowed_ports=(*allowed.webhook_allowed_ports, 443),
    ) as client:
        yield client


async def _test_send(client: Any, brand: BrandContext, endpoint_id: str) -> Any:
    return await client.post(f"{BASE}/{endpoint_id}/test", headers=brand.admin)


async def test_the_test_event_reaches_a_local_receiver(local: Any, brand: BrandContext, receiver: Receiver) -> None:
    created = await local.post(BASE, json={"url": receiver.url()}, headers=brand.admin)
    assert created.status_code == 201, created.text
    endpoint = created.json()
    response = await _test_send(local, brand, endpoint["id"])
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["delivered"] is True
    assert answer["status_code"] == 200
    assert answer["latency_ms"] >= 0
    [received] = receiver.received
    assert received.headers["webhook-id"] == answer["message_id"]
    body = Webhook(endpoint["secret"]).verify(received.body, received.headers)
    assert body["type"] == "webhook.test"
    assert body["data"]["endpoint_id"] == endpoint["id"]

    # Stored like any message, so it shows in the deliveries, delivered, with its attempt.
    deliveries = (await local.get(f"{BASE}/{endpoint['id']}/deliveries", headers=brand.admin)).json()["items"]
    [shown] = deliveries
    assert shown["id"] == answer["message_id"]
    assert (shown["event_type"], shown["status"], shown["attempts"]) == ("webhook.test", "delivered", 1)
    assert [a["status_code"] for a in shown["attempt_history"]] == [200]
    row = await _row(brand, answer["message_id"])
    assert row["claimed_until"] is None
    assert row["next_attempt_at"] is None


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens on it once the probe is closed


async def _point(brand: BrandContext, endpoint_id: str, url: str) -> None:
    """Write a URL the API would refuse (as a row written around the API, or before a setting changed)."""
    async with brand.sessions() as session:
        await session.execute(
            text("UPDATE webhook_endpoints SET url = :u WHERE brand_id = :b AND id = :e"),
            {"u": url, "b": brand.id, "e": uuid.UUID(endpoint_id)},
        )
        await session.commit()


async def test_every_failed_test_is_the_same_answer(
    local: Any, brand: BrandContext, receiver: Receiver, settings: Settings, database_url: str
) -> None:
    receiver.default = Answer(status=500, body=b"boom")
    endpoint = (await local.post(BASE, json={"url": receiver.url()}, headers=brand.admin)).json()
    failures = []
    failing = await _test_send(local, brand, endpoint["id"])  # a receiver answering 500
    failures.append(failing)
    assert len(receiver.received) == 1

    await _point(brand, endpoint["id"], f"http://127.0.0.1:{_closed_port()}/hook")  # nothing listening
    failures.append(await _test_send(local, brand, endpoint["id"]))
    await _point(brand, endpoint["id"], f"http://10.0.0.1:{receiver.port}/hook")  # a private address
    failures.append(await _test_send(local, brand, endpoint["id"]))
    await _point(brand, endpoint["id"], "https://169.254.169.254/latest/meta-data")  # the metadata service
    failures.append(await _test_send(local, brand, endpoint["id"]))

    # The receiver listening, but loopback not allowed (the production setting): refused before connecting.
    await _point(brand, endpoint["id"], receiver.url())
    async with limited_client(
        settings, database_url, webhook_allow_http=True, webhook_allowed_ports=(receiver.port,)
    ) as strict:
        failures.append(await _test_send(strict, brand, endpoint["id"]))
    assert len(receiver.received) == 1  # only the 500 ever reached it

    bodies = []
    for response in failures:
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "test_delivery_failed"
        bodies.append(body)
    assert all(body == bodies[0] for body in bodies), bodies  # nothing tells one failure from another
    assert bodies[0]["detail"] == "The endpoint did not accept the test event"

    # Each is on record as failed, and those that got no answer say no more than the answer did.
    deliveries = (await local.get(f"{BASE}/{endpoint['id']}/deliveries", headers=brand.admin)).json()["items"]
    assert [item["status"] for item in deliveries] == ["failed"] * 5
    attempts = [item["attempt_history"][0] for item in reversed(deliveries)]
    assert attempts[0]["status_code"] == 500
    assert attempts[0]["response_excerpt"] == "boom"
    assert {a["error"] for a in attempts[1:]} == {"connection_failed"}
    assert all(a["status_code"] is None for a in attempts[1:])
