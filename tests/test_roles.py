"""Each caller reaches only its routes: a wrong role is 403, a missing or bad credential 401."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import BrandContext


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", {"get_brand": 200, "patch_brand": 200, "keys": 200, "mint": 201, "member": 200, "me": 403}),
        ("marketer", {"get_brand": 200, "patch_brand": 403, "keys": 403, "mint": 403, "member": 200, "me": 403}),
        ("manager", {"get_brand": 200, "patch_brand": 403, "keys": 403, "mint": 403, "member": 403, "me": 403}),
        ("member", {"get_brand": 403, "patch_brand": 403, "keys": 403, "mint": 403, "member": 403, "me": 200}),
    ],
)
async def test_role_matrix(brand: BrandContext, role: str, expected: dict[str, int]) -> None:
    member = await brand.member()
    if role == "admin":
        headers = brand.admin
    elif role == "member":
        headers = brand.bearer(await brand.member_token(member["id"]))
    else:
        store_ids = [uuid.UUID((await brand.store())["id"])] if role == "manager" else None
        headers = brand.bearer(await brand.key(role, store_ids=store_ids))
    client = brand.client
    got = {
        "get_brand": (await client.get("/v1/brand", headers=headers)).status_code,
        "patch_brand": (await client.patch("/v1/brand", json={"retention_days": 30}, headers=headers)).status_code,
        "keys": (await client.get("/v1/api-keys", headers=headers)).status_code,
        "mint": (await client.post(f"/v1/members/{member['id']}/tokens", headers=headers)).status_code,
        "member": (await client.get(f"/v1/members/{member['id']}", headers=headers)).status_code,
        "me": (await client.get("/v1/members/me", headers=headers)).status_code,
    }
    assert got == expected


async def test_forbidden_answers_say_why(brand: BrandContext) -> None:
    marketer = brand.bearer(await brand.key("marketer"))
    answer = await brand.client.get("/v1/api-keys", headers=marketer)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "role_not_allowed"
    me = await brand.client.get("/v1/members/me", headers=marketer)
    assert me.json()["code"] == "member_token_required"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer sk_not_a_key",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x",
        "Bearer garbage",
    ],
)
async def test_missing_or_bad_credentials_are_401(brand: BrandContext, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    answer = await brand.client.get("/v1/brand", headers=headers)
    assert answer.status_code == 401
    body = answer.json()
    assert body["status"] == 401
    assert body["code"] == "unauthorized"
    assert body["type"].startswith("https://")
