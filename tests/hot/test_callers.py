"""Who may call the hot routes, decided by their one statement: budgets, revoked keys and tokens, wrong callers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from solomo.auth.secrets import hash_secret
from tests.conftest import KEY_BURST, MEMBER_BURST, BrandContext
from tests.coupon_helpers import open_shop, scalar
from tests.scenes import PARIS, make_scene
from tests.test_redemptions import _well_formed_unknown


def _checkin() -> dict[str, object]:
    at = datetime.now(UTC).isoformat()
    return {"location": {"type": "Point", "coordinates": list(PARIS)}, "accuracy_m": 5, "recorded_at": at}


async def test_check_ins_beyond_the_members_budget_are_429_and_charged_in_the_statement(
    tight: AsyncTestClient[Litestar], brand: BrandContext
) -> None:
    scene = await make_scene(brand)
    for left in range(MEMBER_BURST - 1, -1, -1):
        answer = await tight.post("/v1/checkins", json=_checkin(), headers=scene.headers)
        assert answer.status_code == 201, answer.text
        assert answer.headers["ratelimit-policy"].startswith('"member";')
        assert answer.headers["ratelimit"].startswith(f'"member";r={left};')
    refused = await tight.post("/v1/checkins", json=_checkin(), headers=scene.headers)
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "rate_limited"
    assert refused.headers["ratelimit"].startswith('"member";r=0;')
    assert int(refused.headers["retry-after"]) >= 1
    member = scene.member["id"]
    assert await scalar(brand, "SELECT count(*) FROM checkins WHERE member_id = :m", m=member) == MEMBER_BURST


async def test_a_till_key_beyond_its_budget_is_429(tight: AsyncTestClient[Litestar], brand: BrandContext) -> None:
    shop = await open_shop(brand)
    till = brand.bearer(await brand.key("admin"))
    for n in range(KEY_BURST):
        answer = await tight.post(
            "/v1/redemptions", json={"code": _well_formed_unknown(n), "store_id": shop.scene.store["id"]}, headers=till
        )
        assert answer.status_code == 404, answer.text  # a failed redemption is charged too
        assert answer.headers["ratelimit-policy"].startswith('"key";')
    refused = await tight.post(
        "/v1/redemptions", json={"code": _well_formed_unknown(99), "store_id": shop.scene.store["id"]}, headers=till
    )
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1


async def test_a_key_revoked_after_its_process_knew_it_is_refused_at_once(brand: BrandContext) -> None:
    shop = await open_shop(brand, limits={"grants": "every_visit"})
    first = await shop.claimed()
    await shop.revisit()
    second = await shop.claimed()
    secret = await brand.key("manager", [shop.scene.store["id"]])
    till = brand.bearer(secret)
    assert (await shop.redeem(first["code"], headers=till)).status_code == 201  # the process now knows the key
    key_id = await scalar(brand, "SELECT id FROM api_keys WHERE secret_hash = :h", h=hash_secret(secret))
    assert (await brand.client.delete(f"/v1/api-keys/{key_id}", headers=brand.admin)).status_code == 204
    refused = await shop.redeem(second["code"], headers=till)
    assert refused.status_code == 401, refused.text
    assert await scalar(brand, "SELECT count(*) FROM redemptions WHERE coupon_id = :c", c=second["id"]) == 0


async def test_an_erased_members_token_is_refused_on_the_hot_routes(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    member = shop.scene.member["id"]
    assert (await brand.client.delete(f"/v1/members/{member}", headers=brand.admin)).status_code == 204
    checkin = await brand.client.post("/v1/checkins", json=_checkin(), headers=shop.scene.headers)
    assert checkin.status_code == 401, checkin.text
    assert "revoked" in checkin.json()["detail"]
    claim = await shop.claim()
    assert claim.status_code == 401, claim.text


@pytest.mark.parametrize(
    ("path", "caller", "status", "code"),
    [
        ("/v1/checkins", "admin", 403, "member_token_required"),
        ("/v1/redemptions", "member", 403, "api_key_required"),
        ("/v1/redemptions", "marketer", 403, "role_not_allowed"),
        ("/v1/checkins", "garbage", 401, "unauthorized"),
        ("/v1/redemptions", "garbage", 401, "unauthorized"),
        ("/v1/redemptions", "unknown key", 401, "unauthorized"),
        ("/v1/checkins", "none", 401, "unauthorized"),
    ],
)
async def test_the_wrong_caller_is_refused_before_anything_is_done(
    brand: BrandContext, path: str, caller: str, status: int, code: str
) -> None:
    shop = await open_shop(brand)
    coupon = await shop.claimed()
    headers = {
        "admin": brand.admin,
        "member": shop.scene.headers,
        "marketer": brand.bearer(await brand.key("marketer")),
        "garbage": {"Authorization": "Bearer not-a-token"},
        "unknown key": {"Authorization": "Bearer sk_" + "x" * 43},
        "none": {},
    }[caller]
    body = _checkin() if path == "/v1/checkins" else {"code": coupon["code"], "store_id": shop.scene.store["id"]}
    answer = await brand.client.post(path, json=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    assert await scalar(brand, "SELECT count(*) FROM redemptions WHERE coupon_id = :c", c=coupon["id"]) == 0
