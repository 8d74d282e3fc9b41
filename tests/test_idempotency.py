"""Idempotency-Key belongs to one request: brand, caller, method, the concrete path (ids included) and the body.

A key reused on another path is refused (422), never answered with the other request's answer; a malformed
key is a 400 naming the header; erasure still removes a member's records.
"""

from __future__ import annotations

import pytest

from tests.conftest import BrandContext
from tests.coupon_helpers import open_shop, scalar
from tests.test_offer_eligibility import offer, visit


async def test_one_key_on_two_offers_claims_the_first_and_refuses_the_second(brand: BrandContext) -> None:
    shop = await open_shop(brand, eligible=False)
    second = await offer(shop.scene, shop.campaign["id"])
    result = await visit(shop.scene)
    assert {shop.offer["id"], second["id"]} <= {o["offer_id"] for o in result["offers"]}, result
    headers = shop.scene.headers | {"Idempotency-Key": "claim-once"}

    first = await brand.client.post(f"/v1/offers/{shop.offer['id']}/claims", headers=headers)
    assert first.status_code == 201, first.text
    other = await brand.client.post(f"/v1/offers/{second['id']}/claims", headers=headers)
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["errors"][0] == {
        "field": "Idempotency-Key",
        "message": "already used for a request to another path",
        "source": "header",
    }
    assert "idempotent-replayed" not in other.headers
    member = shop.scene.member["id"]
    assert await scalar(brand, "SELECT count(*) FROM coupons WHERE member_id = :m", m=member) == 1
    # The first request, repeated, is still a replay; the second offer is claimable with a key of its own.
    replay = await brand.client.post(f"/v1/offers/{shop.offer['id']}/claims", headers=headers)
    assert (replay.status_code, replay.headers.get("idempotent-replayed")) == (201, "true")
    assert replay.json()["id"] == first.json()["id"]
    own_key = shop.scene.headers | {"Idempotency-Key": "claim-second"}
    claimed = await brand.client.post(f"/v1/offers/{second['id']}/claims", headers=own_key)
    assert claimed.status_code == 201, claimed.text
    assert claimed.json()["offer_id"] == second["id"]


async def test_one_key_on_two_voids_voids_only_the_first(brand: BrandContext) -> None:
    shop = await open_shop(brand, limits={"per_member": 5, "total": 10, "grants": "every_visit"})
    coupons = [await shop.claimed()]
    await visit(shop.scene)
    coupons.append(await shop.claimed())
    redemptions = []
    for coupon in coupons:
        redeemed = await shop.redeem(coupon["code"])
        assert redeemed.status_code == 201, redeemed.text
        redemptions.append(redeemed.json()["id"])
    headers = brand.admin | {"Idempotency-Key": "void-once"}

    first = await brand.client.post(f"/v1/redemptions/{redemptions[0]}/void", headers=headers)
    assert first.status_code == 200, first.text
    other = await brand.client.post(f"/v1/redemptions/{redemptions[1]}/void", headers=headers)
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    voided = await scalar(
        brand, "SELECT count(*) FROM redemptions WHERE brand_id = :b AND voided_at IS NOT NULL", b=brand.id
    )
    assert voided == 1


@pytest.mark.parametrize(
    "key",
    ["", "   ", "k" * 256, "caf\u00e9", "tab\there"],
    ids=["empty", "blank", "too-long", "not-ascii", "control-character"],
)
async def test_a_malformed_key_is_a_400_naming_the_header(brand: BrandContext, key: str) -> None:
    store = await brand.store()
    body = {"code": "ABCD-EFGH-JKMN", "store_id": store["id"]}
    headers = [(name.encode(), value.encode()) for name, value in brand.admin.items()]
    headers.append((b"Idempotency-Key", key.encode("latin-1")))
    answer = await brand.client.post("/v1/redemptions", json=body, headers=headers)
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["code"] == "invalid_idempotency_key"
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert problem["errors"][0]["source"] == "header"


async def test_a_key_of_255_printable_characters_is_accepted(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    key = ("k-" * 128)[:255]
    answer = await shop.claim(headers=shop.scene.headers | {"Idempotency-Key": key})
    assert answer.status_code == 201, answer.text
    again = await shop.claim(headers=shop.scene.headers | {"Idempotency-Key": key})
    assert again.headers.get("idempotent-replayed") == "true"


async def test_erasure_removes_the_members_idempotency_records(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    member = shop.scene.member["id"]
    claimed = await shop.claim(headers=shop.scene.headers | {"Idempotency-Key": "before-erasure"})
    assert claimed.status_code == 201, claimed.text
    count = "SELECT count(*) FROM idempotency_keys WHERE brand_id = :b AND caller = :m"
    assert await scalar(brand, count, b=brand.id, m=member) == 1
    erased = await brand.client.delete(f"/v1/members/{member}", headers=brand.admin)
    assert erased.status_code in (200, 204), erased.text
    assert await scalar(brand, count, b=brand.id, m=member) == 0
