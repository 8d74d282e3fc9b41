"""Webhooks end to end, as a brand would see them: a check-in through the API reaches the brand's receiver, signed,
as its events; a replay through the API sends the same message again, with the same id and body."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from standardwebhooks.webhooks import Webhook

from solomo.config import Settings
from solomo.webhooks.sender import Sender
from solomo.webhooks.worker import Worker
from tests.conftest import BrandContext
from tests.coupon_helpers import open_shop
from tests.scenes import PARIS, offset
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.test_signing import new_secret


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def deliver_all(database_url: str, settings: Settings, receiver: Receiver) -> None:
    chosen = receiver.settings(settings)
    async with Worker(database_url, chosen, sender=Sender(chosen, timeout_s=5.0)) as worker:
        while await worker.run_once():
            pass


async def test_a_check_in_reaches_the_receiver_signed_and_a_replay_sends_it_again(
    brand: BrandContext, conn: asyncpg.Connection, receiver: Receiver, database_url: str, settings: Settings
) -> None:
    shop = await open_shop(brand, eligible=False)
    secret = new_secret()
    endpoint = await conn.fetchval(
        "INSERT INTO webhook_endpoints (brand_id, url, secret, event_types)"
        " VALUES ($1, $2, $3, '{geofence.entered,offer.granted}') RETURNING id",
        brand.id,
        receiver.url(),
        secret,
    )
    await shop.scene.ok(*offset(*PARIS, 0, 5000), after_s=600)
    entered = await shop.scene.ok(*PARIS, after_s=600)
    await deliver_all(database_url, settings, receiver)

    events = [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]
    assert sorted(e["type"] for e in events) == ["geofence.entered", "offer.granted"]
    assert {e["data"]["checkin_id"] for e in events} == {entered["id"]}
    assert {e["data"]["store_id"] for e in events} == {shop.scene.store["id"]}

    deliveries = await brand.client.get(f"/v1/webhook-endpoints/{endpoint}/deliveries", headers=brand.admin)
    assert deliveries.status_code == 200, deliveries.text
    assert {d["status"] for d in deliveries.json()["items"]} == {"delivered"}

    first = receiver.received[0]
    replayed = await brand.client.post(
        f"/v1/webhook-endpoints/{endpoint}/messages/{first.headers['webhook-id']}/replay", headers=brand.admin
    )
    assert replayed.status_code == 202, replayed.text
    await deliver_all(database_url, settings, receiver)
    again = receiver.received[-1]
    assert len(receiver.received) == 3
    assert (again.headers["webhook-id"], again.body) == (first.headers["webhook-id"], first.body)
    Webhook(secret).verify(again.body, again.headers)


async def test_an_endpoint_deleted_while_its_messages_wait_leaves_nothing_behind(
    brand: BrandContext, conn: asyncpg.Connection
) -> None:
    endpoint = await conn.fetchval(
        "INSERT INTO webhook_endpoints (brand_id, url, secret) VALUES ($1, 'https://h.example.com/', 'whsec_x')"
        " RETURNING id",
        brand.id,
    )
    await conn.execute(
        "INSERT INTO webhook_messages (brand_id, endpoint_id, event_type, payload) VALUES ($1, $2, 't', '{}')",
        brand.id,
        endpoint,
    )
    deleted = await brand.client.delete(f"/v1/webhook-endpoints/{endpoint}", headers=brand.admin)
    assert deleted.status_code == 204, deleted.text
    assert await conn.fetchval("SELECT count(*) FROM webhook_messages WHERE brand_id = $1", brand.id) == 0
    assert isinstance(endpoint, uuid.UUID)
