"""At the till: look-up, redemption, void, and every refusal; the audit trail; the guessing throttle."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from solomo.coupons.codes import check_symbol
from tests.conftest import BrandContext
from tests.coupon_helpers import Shop, open_shop, scalar
from tests.scenes import PARIS
from tests.test_offer_eligibility import fence_at, offer, shop, visit
from tests.test_offers_crud import campaign


async def manager(shop: Shop, *stores: str) -> dict[str, str]:
    key = await shop.brand.key("manager", [uuid.UUID(s) for s in stores or [shop.scene.store["id"]]])
    return shop.brand.bearer(key)


async def test_look_up_redeem_void_and_redeem_again(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    coupon = await shop.claimed()
    till = await manager(shop)
    typed = coupon["code"].replace("-", "").lower()
    looked = await brand.client.get(f"/v1/coupons/{typed}", headers=till)
    assert looked.status_code == 200, looked.text
    assert (looked.json()["id"], looked.json()["status"]) == (coupon["id"], "active")
    scanned = await brand.client.get(f"/v1/coupons/{coupon['qr_payload']}", headers=till)
    assert scanned.json()["id"] == coupon["id"]

    redeemed = await shop.redeem(coupon["code"], headers=till, order_amount=42.5)
    assert redeemed.status_code == 201, redeemed.text
    body = redeemed.json()
    assert body["coupon"]["status"] == "redeemed"
    assert (body["store_id"], body["order_amount"], body["voided_at"]) == (shop.scene.store["id"], 42.5, None)
    twice = await shop.redeem(coupon["code"], headers=till)
    assert (twice.status_code, twice.json()["code"]) == (409, "already_redeemed")
    assert (twice.json()["redemption_id"], twice.json()["store_id"]) == (body["id"], shop.scene.store["id"])
    assert twice.json()["redeemed_at"] == body["redeemed_at"]
    assert (await brand.client.get(f"/v1/coupons/{typed}", headers=till)).json()["status"] == "redeemed"

    voided = await brand.client.post(f"/v1/redemptions/{body['id']}/void", json={"reason": "wrong item"}, headers=till)
    assert voided.status_code == 200, voided.text
    assert voided.json()["coupon"]["status"] == "active"
    assert voided.json()["void_reason"] == "wrong item"
    again = await brand.client.post(f"/v1/redemptions/{body['id']}/void", headers=till)
    assert (again.status_code, again.json()["code"]) == (409, "already_voided")
    redeemed_again = await shop.redeem(coupon["code"], headers=till)
    assert redeemed_again.status_code == 201, redeemed_again.text

    audit = await scalar(
        brand,
        "SELECT string_agg(action || ':' || role, ',' ORDER BY id) FROM coupon_audit WHERE coupon_id = :c",
        c=coupon["id"],
    )
    assert audit == "redeem:manager,void:manager,redeem:manager"
    live = await scalar(
        brand, "SELECT count(*) FROM redemptions WHERE coupon_id = :c AND voided_at IS NULL", c=coupon["id"]
    )
    assert live == 1
    fetched = await brand.client.get(f"/v1/redemptions/{body['id']}", headers=brand.admin)
    assert fetched.json()["voided_by_key_id"] is not None


async def test_expired_cancelled_and_unknown_codes(brand: BrandContext, other_brand: BrandContext) -> None:
    shop = await open_shop(brand, limits={"grants": "every_visit"})
    coupon = await shop.claimed()
    await scalar(
        brand,
        "UPDATE coupons SET claimed_at = now() - interval '2 days', expires_at = now() - interval '1 day'"
        " WHERE id = :c RETURNING 1",
        c=coupon["id"],
    )
    expired = await shop.redeem(coupon["code"])
    assert (expired.status_code, expired.json()["code"]) == (410, "expired")
    assert expired.json()["expires_at"] is not None

    await shop.revisit()
    fresh = await shop.claimed()
    mistyped = fresh["code"][:-1] + ("0" if fresh["code"][-1] != "0" else "1")
    typo = await shop.redeem(mistyped)
    assert (typo.status_code, typo.json()["code"], typo.json()["errors"][0]["field"]) == (422, "code_mistyped", "code")
    # Another brand's code is answered exactly like a code that does not exist.
    crossed = await other_brand.client.get(f"/v1/coupons/{fresh['code']}", headers=other_brand.admin)
    assert (crossed.status_code, crossed.json()["code"]) == (404, "not_found")
    other_store = await other_brand.store()
    crossed_redeem = await other_brand.client.post(
        "/v1/redemptions", json={"code": fresh["code"], "store_id": other_store["id"]}, headers=other_brand.admin
    )
    assert crossed_redeem.status_code == 404
    unknown_store = await shop.redeem(fresh["code"], store_id=other_store["id"])
    assert (unknown_store.status_code, unknown_store.json()["errors"][0]["field"]) == (422, "store_id")


async def test_wrong_store_and_manager_scope(brand: BrandContext) -> None:
    scene = await shop(brand)
    fence = await fence_at(scene)
    running = await campaign(brand)
    targeted = await offer(
        scene,
        running["id"],
        where={"target": "stores", "store_ids": [scene.store["id"]]},
        coupon={"kind": "free_item", "free_item": "cookie", "validity_minutes": 60, "redeemable_at": "targeted_stores"},
    )
    await visit(scene)
    here = Shop(scene, running, targeted, fence)
    coupon = await here.claimed()
    assert coupon["terms"]["redeemable_store_ids"] == [scene.store["id"]]
    elsewhere = await brand.store(*PARIS, name="Elsewhere")

    at_other_store = await here.redeem(coupon["code"], store_id=elsewhere["id"])
    assert (at_other_store.status_code, at_other_store.json()["code"]) == (403, "wrong_store")
    other_manager = await manager(here, elsewhere["id"])
    looked = await brand.client.get(f"/v1/coupons/{coupon['code']}", headers=other_manager)
    assert (looked.status_code, looked.json()["code"]) == (403, "wrong_store")
    out_of_scope = await here.redeem(coupon["code"], headers=other_manager)
    assert (out_of_scope.status_code, out_of_scope.json()["code"]) == (403, "store_out_of_scope")
    own_manager = await manager(here)
    assert (await brand.client.get(f"/v1/coupons/{coupon['code']}", headers=own_manager)).status_code == 200
    assert (await here.redeem(coupon["code"], headers=own_manager)).status_code == 201
    marketer = brand.bearer(await brand.key("marketer"))
    assert (await brand.client.get(f"/v1/coupons/{coupon['code']}", headers=marketer)).status_code == 403


async def test_requires_visit_with_a_stale_a_flagged_and_a_fresh_check_in(brand: BrandContext) -> None:
    shop = await open_shop(
        brand, coupon={"kind": "percent", "percent_off": 20, "validity_minutes": 600, "requires_visit": True}
    )
    coupon = await shop.claimed()
    assert coupon["terms"]["requires_visit"] is True
    # The check-in that made the offer claimable is well over an hour old (the scene's clock).
    stale = await shop.redeem(coupon["code"])
    assert (stale.status_code, stale.json()["code"]) == (403, "visit_required")
    shop.scene.clock = datetime.now(UTC) - timedelta(minutes=3)
    flagged = await shop.scene.ok(*PARIS, mocked=True)
    assert flagged["flags"] == ["mocked"]
    assert (await shop.redeem(coupon["code"])).json()["code"] == "visit_required"
    fresh = await shop.scene.ok(*PARIS)
    assert fresh["flags"] == []
    redeemed = await shop.redeem(coupon["code"])
    assert redeemed.status_code == 201, redeemed.text


async def test_an_idempotent_redemption_is_replayed(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    coupon = await shop.claimed()
    headers = brand.admin | {"Idempotency-Key": "till-7-scan-1"}
    first = await shop.redeem(coupon["code"], headers=headers)
    replay = await shop.redeem(coupon["code"], headers=headers)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert await scalar(brand, "SELECT count(*) FROM redemptions WHERE coupon_id = :c", c=coupon["id"]) == 1


async def test_failed_look_ups_are_throttled_per_key(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    coupon = await shop.claimed()
    guesser = await manager(shop)
    for attempt in range(10):
        wrong = await brand.client.get(f"/v1/coupons/{_well_formed_unknown(attempt)}", headers=guesser)
        assert wrong.status_code == 404, wrong.text
    throttled = await brand.client.get(f"/v1/coupons/{coupon['code']}", headers=guesser)
    assert (throttled.status_code, throttled.json()["code"]) == (429, "too_many_failed_codes")
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    blocked_redeem = await shop.redeem(coupon["code"], headers=guesser)
    assert blocked_redeem.status_code == 429
    # Another key is not held back; the level drains with time.
    assert (await brand.client.get(f"/v1/coupons/{coupon['code']}", headers=brand.admin)).status_code == 200
    await scalar(
        brand, "UPDATE code_failures SET at = at - interval '1 minute' WHERE brand_id = :b RETURNING 1", b=brand.id
    )
    assert (await brand.client.get(f"/v1/coupons/{coupon['code']}", headers=guesser)).status_code == 200


def _well_formed_unknown(seed: int) -> str:
    payload = f"{seed:011d}"
    return payload + check_symbol(payload)


async def test_void_rules(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    elsewhere = await brand.store(*PARIS, name="Other")
    coupon = await shop.claimed()
    redemption = (await shop.redeem(coupon["code"])).json()
    url = f"/v1/redemptions/{redemption['id']}/void"
    outsider = await manager(shop, elsewhere["id"])
    refused = await brand.client.post(url, headers=outsider)
    assert (refused.status_code, refused.json()["code"]) == (403, "store_out_of_scope")
    await scalar(
        brand,
        "UPDATE redemptions SET redeemed_at = now() - interval '25 hours' WHERE id = :r RETURNING 1",
        r=redemption["id"],
    )
    late = await brand.client.post(url, headers=brand.admin)
    assert (late.status_code, late.json()["code"]) == (409, "void_window_passed")
    missing = await brand.client.post(f"/v1/redemptions/{uuid.uuid4()}/void", headers=brand.admin)
    assert missing.status_code == 404
    marketer = brand.bearer(await brand.key("marketer"))
    assert (await brand.client.post(url, headers=marketer)).status_code == 403


async def test_a_store_with_redemptions_is_archived_not_deleted(brand: BrandContext) -> None:
    shop = await open_shop(brand, limits={"grants": "every_visit"})
    elsewhere = await brand.store(*PARIS, name="Redeemed here")
    coupon = await shop.claimed()
    assert (await shop.redeem(coupon["code"], store_id=elsewhere["id"])).status_code == 201
    assert (await brand.client.delete(f"/v1/stores/{elsewhere['id']}", headers=brand.admin)).status_code == 204
    archived = (await brand.client.get(f"/v1/stores/{elsewhere['id']}", headers=brand.admin)).json()
    assert archived["archived_at"] is not None
    await shop.revisit()
    next_coupon = await shop.claimed()
    at_archived = await shop.redeem(next_coupon["code"], store_id=elsewhere["id"])
    assert (at_archived.status_code, at_archived.json()["code"]) == (422, "store_archived")


async def test_hostile_till_input_is_4xx_naming_the_field(brand: BrandContext) -> None:
    store = await brand.store()
    cases: list[tuple[dict[str, object], str]] = [
        ({"code": "", "store_id": store["id"]}, "code"),
        ({"code": "A" * 65, "store_id": store["id"]}, "code"),
        ({"code": "ABCD-EFGH-JKMN", "store_id": "not-a-uuid"}, "store_id"),
        ({"code": "ABCD-EFGH-JKMN", "store_id": store["id"], "order_amount": -1}, "order_amount"),
        ({"code": "ABCD-EFGH-JKMN", "store_id": store["id"], "order_amount": "12.5"}, "order_amount"),
        ({"code": "ABCD-EFGH-JKMN", "store_id": store["id"], "till": 3}, "till"),
        ({"code": "AB\u0000", "store_id": store["id"]}, "code"),
    ]
    for body, field in cases:
        answer = await brand.client.post("/v1/redemptions", json=body, headers=brand.admin)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["errors"][0]["field"] == field, (body, answer.text)
    for typed in ("%F0%9F%98%80", "a%00b", "x" * 65, "SOLOMO:"):
        looked = await brand.client.get(f"/v1/coupons/{typed}", headers=brand.admin)
        assert looked.status_code in (404, 422), (typed, looked.text)
        assert looked.headers["content-type"].startswith("application/problem+json")
    not_json = await brand.client.post(
        f"/v1/redemptions/{uuid.uuid4()}/void",
        content=b"{oops",
        headers=brand.admin | {"content-type": "application/json"},
    )
    assert not_json.status_code == 400


async def test_hostile_claim_bodies(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    for body, status in ((b"[]", 422), (b'{"share_code": ""}', 422), (b'{"share_code": 5}', 422), (b"null", 201)):
        answer = await brand.client.post(
            f"/v1/offers/{shop.offer['id']}/claims",
            content=body,
            headers=shop.scene.headers | {"content-type": "application/json"},
        )
        assert answer.status_code == status, (body, answer.text)
