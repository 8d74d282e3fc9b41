"""Each hot route sends PostgreSQL exactly one statement (no BEGIN, no COMMIT, no authentication query), with and
without an Idempotency-Key, and for a replay, which answers the first answer byte for byte."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.conftest import BrandContext
from tests.coupon_helpers import open_shop
from tests.scenes import PARIS, make_scene, statements_sent


async def _one_statement(app: Litestar, name: str, send: Any) -> httpx.Response:
    with statements_sent(app) as sent:
        answer: httpx.Response = await send()
    assert answer.status_code == 201, answer.text
    assert len(sent) == 1, sent
    assert sent[0].startswith(f"SELECT {name}("), sent
    return answer


async def _replayed_in_one_statement(app: Litestar, name: str, send: Any, first: httpx.Response) -> None:
    again = await _one_statement(app, name, send)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content


async def test_a_checkin_is_one_statement(brand: BrandContext, app: Litestar) -> None:
    scene = await make_scene(brand)
    await scene.fence({"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 200})
    await _one_statement(app, "solomo_checkin_request", lambda: scene.checkin(*PARIS))
    scene.clock = scene.clock.replace(microsecond=0)
    body = {
        "location": {"type": "Point", "coordinates": list(PARIS)},
        "accuracy_m": 5,
        "recorded_at": scene.clock.isoformat(),
    }
    keyed = scene.headers | {"Idempotency-Key": "one-statement-checkin"}

    def send() -> Any:
        return brand.client.post("/v1/checkins", json=body, headers=keyed)

    first = await _one_statement(app, "solomo_checkin_request", send)
    assert "idempotent-replayed" not in first.headers
    await _replayed_in_one_statement(app, "solomo_checkin_request", send, first)


async def test_a_checkin_in_gcj02_is_one_statement_too(brand: BrandContext, app: Litestar) -> None:
    """The point is converted in Python before the statement: no round trip of its own."""
    scene = await make_scene(brand)
    await _one_statement(app, "solomo_checkin_request", lambda: scene.checkin(121.4737, 31.2304, crs="gcj02"))


async def test_a_claim_is_one_statement(brand: BrandContext, app: Litestar) -> None:
    shop = await open_shop(brand, limits={"grants": "every_visit"})
    await _one_statement(app, "solomo_claim_request", shop.claim)
    await shop.revisit()
    keyed = shop.scene.headers | {"Idempotency-Key": "one-statement-claim"}
    first = await _one_statement(app, "solomo_claim_request", lambda: shop.claim(headers=keyed))
    await _replayed_in_one_statement(app, "solomo_claim_request", lambda: shop.claim(headers=keyed), first)


async def test_a_redemption_is_one_statement_once_the_process_knows_the_key(brand: BrandContext, app: Litestar) -> None:
    shop = await open_shop(brand, limits={"grants": "every_visit"})
    first_coupon = (await shop.claim()).json()
    await shop.revisit()
    second_coupon = (await shop.claim()).json()
    till = brand.bearer(await brand.key("manager", [shop.scene.store["id"]]))
    # The first request with a key this process has not seen looks the key's brand and id up, once.
    with statements_sent(app) as sent:
        assert (await shop.redeem(first_coupon["code"], headers=till)).status_code == 201
    assert [s.split("(")[0] for s in sent] == [
        "SELECT key_id AS id, brand_id FROM api_key_routes WHERE secret_hash = $1",
        "SELECT solomo_redeem_request",
    ]
    with statements_sent(app) as sent:
        assert (await shop.redeem(first_coupon["code"], headers=till)).status_code == 409  # already redeemed
    assert len(sent) == 1, sent
    keyed = till | {"Idempotency-Key": "one-statement-redemption"}

    def send() -> Any:
        return shop.redeem(second_coupon["code"], headers=keyed)

    first = await _one_statement(app, "solomo_redeem_request", send)
    await _replayed_in_one_statement(app, "solomo_redeem_request", send, first)
