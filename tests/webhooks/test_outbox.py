"""The transactional outbox: each change writes one outbox row in its own transaction, and the fan-out turns it into
the events each endpoint subscribed to (solomo/webhooks/sql/webhook_enqueue.sql, solomo/webhooks/fan_out.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from solomo.db.pool import asyncpg_dsn
from solomo.webhooks.fan_out import fan_out
from tests.conftest import BrandContext
from tests.coupon_helpers import open_shop, scalar
from tests.scenes import PARIS, offset
from tests.test_offer_eligibility import visit


async def endpoint(
    brand: BrandContext, *, event_types: list[str] | None = None, include_location: bool = False, enabled: bool = True
) -> uuid.UUID:
    async with brand.sessions() as session, session.begin():
        made = await session.scalar(
            text(
                "INSERT INTO webhook_endpoints (brand_id, url, event_types, include_location, enabled, secret)"
                " VALUES (:b, 'https://hooks.example.com/solomo', :types, :loc, :on, 'whsec_dGVzdHRlc3R0ZXN0dGVzdA==')"
                " RETURNING id"
            ),
            {"b": brand.id, "types": event_types, "loc": include_location, "on": enabled},
        )
    assert isinstance(made, uuid.UUID)
    return made


async def outbox(brand: BrandContext) -> list[str]:
    kinds = await scalar(
        brand, "SELECT coalesce(array_agg(kind ORDER BY id), '{}') FROM webhook_outbox WHERE brand_id = :b", b=brand.id
    )
    return list(kinds)


async def messages(conn: asyncpg.Connection, brand: BrandContext) -> list[dict[str, Any]]:
    while await fan_out(conn):
        pass
    rows = await conn.fetch(
        "SELECT endpoint_id, event_type, member_id, payload::text AS payload, status FROM webhook_messages"
        # One fan-out gives its messages one created_at: within it, the order the events happened in.
        " WHERE brand_id = $1 ORDER BY created_at, CAST(payload->>'timestamp' AS timestamptz), event_type",
        brand.id,
    )
    return [dict(r) | {"payload": json.loads(r["payload"])} for r in rows]


async def test_a_brand_without_endpoints_writes_no_outbox_rows(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    await shop.claimed()
    assert await outbox(brand) == []


async def test_a_check_in_writes_one_row_that_becomes_each_event(brand: BrandContext, conn: asyncpg.Connection) -> None:
    shop = await open_shop(brand, eligible=False)
    everything = await endpoint(brand)
    await shop.scene.ok(*offset(*PARIS, 0, 5000), after_s=600)  # outside every fence: nothing to report
    assert await outbox(brand) == []

    entered = await shop.scene.ok(*PARIS, after_s=600)
    assert [o["offer_id"] for o in entered["offers"]] == [shop.offer["id"]]
    assert await outbox(brand) == ["checkin"]  # one row for an enter and a grant
    sent = await messages(conn, brand)
    assert await outbox(brand) == []
    assert [(m["event_type"], m["endpoint_id"], m["status"]) for m in sent] == [
        ("geofence.entered", everything, "pending"),
        ("offer.granted", everything, "pending"),
    ]
    fence_event, grant = (m["payload"] for m in sent)
    assert fence_event["type"] == "geofence.entered"
    assert fence_event["data"] == {
        "checkin_id": entered["id"],
        "member_id": shop.scene.member["id"],
        "geofence_id": shop.fence["id"],
        "store_id": shop.scene.store["id"],
        "recorded_at": fence_event["data"]["recorded_at"],
        "received_at": fence_event["data"]["received_at"],
    }  # no location: the endpoint did not ask for it
    assert grant["data"]["offer_id"] == shop.offer["id"]
    assert grant["data"]["eligible_until"].startswith(entered["offers"][0]["eligible_until"][:19])

    await shop.scene.ok(*PARIS, after_s=30)  # still inside: no event, no row
    assert await outbox(brand) == []
    await shop.scene.ok(*offset(*PARIS, 0, 5000), after_s=600)
    left = await messages(conn, brand)
    assert [m["event_type"] for m in left[2:]] == ["geofence.exited"]


async def test_location_goes_only_to_endpoints_that_ask_and_only_with_consent(
    brand: BrandContext, conn: asyncpg.Connection
) -> None:
    shop = await open_shop(brand, eligible=False)
    plain = await endpoint(brand, event_types=["geofence.entered"])
    locating = await endpoint(brand, event_types=["geofence.entered"], include_location=True)
    await visit(shop.scene)
    sent = {m["endpoint_id"]: m["payload"]["data"] for m in await messages(conn, brand)}
    assert "location" not in sent[plain]
    assert sent[locating]["location"] == {
        "lon": pytest.approx(PARIS[0]),
        "lat": pytest.approx(PARIS[1]),
        "accuracy_m": 5.0,
    }

    # Consent withdrawn after the check-in, before the fan-out: the location no longer goes out.
    await shop.scene.ok(*offset(*PARIS, 0, 5000), after_s=600)
    await shop.scene.ok(*PARIS, after_s=600)
    withdrawn = await brand.client.patch(
        f"/v1/members/{shop.scene.member['id']}", json={"consent": {"location": False}}, headers=brand.admin
    )
    assert withdrawn.status_code == 200, withdrawn.text
    later = [m for m in await messages(conn, brand) if m["endpoint_id"] == locating]
    assert "location" not in later[-1]["payload"]["data"]


async def test_subscriptions_and_disabled_endpoints(brand: BrandContext, conn: asyncpg.Connection) -> None:
    shop = await open_shop(brand, eligible=False)
    coupons_only = await endpoint(brand, event_types=["coupon.claimed", "coupon.redeemed"])
    await endpoint(brand, enabled=False)
    await visit(shop.scene)
    coupon = await shop.claimed()
    redeemed = await shop.redeem(coupon["code"])
    assert redeemed.status_code == 201, redeemed.text
    sent = await messages(conn, brand)
    assert [(m["event_type"], m["endpoint_id"]) for m in sent] == [
        ("coupon.claimed", coupons_only),
        ("coupon.redeemed", coupons_only),
    ]
    claimed, redemption = (m["payload"]["data"] for m in sent)
    assert claimed["coupon_id"] == coupon["id"]
    assert "code" not in json.dumps(claimed)
    assert (redemption["redemption_id"], redemption["coupon_id"]) == (redeemed.json()["id"], coupon["id"])


async def test_a_refused_or_rolled_back_claim_sends_nothing(brand: BrandContext, database_url: str) -> None:
    shop = await open_shop(brand)
    other = await brand.member("other")
    token = await brand.member_token(other["id"])
    await endpoint(brand, event_types=["coupon.claimed"])
    # Refused (a member with no grant): nothing in the outbox.
    refused = await shop.claim(headers=brand.bearer(token))
    assert refused.status_code in (403, 409), refused.text
    assert await outbox(brand) == []

    # The claim itself, in a transaction that rolls back: its outbox row goes with it.
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        transaction = connection.transaction()
        await transaction.start()
        member = uuid.UUID(shop.scene.member["id"])
        version = await connection.fetchval("SELECT token_version FROM members WHERE id = $1", member)
        answer = await connection.fetchval(
            "SELECT solomo_claim_request($1, $2, $3, 100, 100, NULL, NULL, $4, NULL, $5)",
            brand.id,
            member,
            version,
            uuid.UUID(shop.offer["id"]),
            "ABCDEFGHJKMN",
        )
        assert json.loads(answer)["status"] == "claimed"
        assert await connection.fetchval("SELECT count(*) FROM webhook_outbox WHERE brand_id = $1", brand.id) == 1
        await transaction.rollback()
    finally:
        await connection.close()
    assert await outbox(brand) == []
    assert (await shop.claim()).status_code == 201
    assert await outbox(brand) == ["claim"]


async def test_void_and_member_events(brand: BrandContext, conn: asyncpg.Connection) -> None:
    shop = await open_shop(brand)
    await endpoint(brand, event_types=["coupon.voided", "member.created", "member.merged", "member.erased"])
    coupon = await shop.claimed()
    redemption = (await shop.redeem(coupon["code"])).json()
    voided = await brand.client.post(
        f"/v1/redemptions/{redemption['id']}/void", json={"reason": "oops"}, headers=brand.admin
    )
    assert voided.status_code == 200, voided.text
    newcomer = await brand.member("newcomer")
    twin = await brand.member("twin")
    merged = await brand.client.post(
        f"/v1/members/{newcomer['id']}/merge", json={"from": twin["id"]}, headers=brand.admin
    )
    assert merged.status_code == 200, merged.text
    sent = await messages(conn, brand)
    assert [m["event_type"] for m in sent] == ["coupon.voided", "member.created", "member.created", "member.merged"]
    assert sent[0]["payload"]["data"] | {"voided_at": None, "redeemed_at": None} == {
        "redemption_id": redemption["id"],
        "coupon_id": coupon["id"],
        "offer_id": shop.offer["id"],
        "member_id": shop.scene.member["id"],
        "store_id": shop.scene.store["id"],
        "reason": "oops",
        "redeemed_at": None,
        "voided_at": None,
    }
    assert sent[1]["payload"]["data"]["external_id"] == "newcomer"
    assert sent[3]["payload"]["data"] | {"merged_at": None} == {
        "member_id": newcomer["id"],
        "merged_member_id": twin["id"],
        "merged_at": None,
    }

    # Erasure deletes what is kept about the member, then reports the erasure itself.
    erased = await brand.client.delete(f"/v1/members/{newcomer['id']}", headers=brand.admin)
    assert erased.status_code == 204, erased.text
    after = await messages(conn, brand)
    assert [m["event_type"] for m in after] == ["coupon.voided", "member.erased"]
    assert after[-1]["payload"]["data"]["member_id"] == newcomer["id"]


async def test_an_unreadable_outbox_row_is_logged_and_does_not_hold_up_the_rest(
    brand: BrandContext, conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    await endpoint(brand)
    async with brand.sessions() as session, session.begin():
        await session.execute(
            text("INSERT INTO webhook_outbox (brand_id, kind, payload) VALUES (:b, 'claim', '{\"coupon\": {}}')"),
            {"b": brand.id},
        )
    await brand.member("after the bad row")
    sent = await messages(conn, brand)
    assert [m["event_type"] for m in sent] == ["member.created"]
    assert await outbox(brand) == []
    assert any("unreadable" in r.getMessage() for r in caplog.records)
