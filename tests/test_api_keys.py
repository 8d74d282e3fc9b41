from __future__ import annotations

import uuid

from tests.conftest import BrandContext


async def test_create_shows_secret_once_and_list_never(brand: BrandContext) -> None:
    client = brand.client
    created = await client.post("/v1/api-keys", json={"name": "reports", "role": "marketer"}, headers=brand.admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("sk_")
    assert body["prefix"] == body["secret"][: len(body["prefix"])]
    assert body["role"] == "marketer"

    listed = await client.get("/v1/api-keys", headers=brand.admin)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert {i["name"] for i in items} == {"reports", "first admin key"}
    assert all("secret" not in i for i in items)
    assert body["secret"] not in listed.text

    # The new key works at once.
    me = await client.get("/v1/brand", headers=brand.bearer(body["secret"]))
    assert me.status_code == 200
    assert me.json()["id"] == str(brand.id)


async def test_only_the_hash_is_stored(brand: BrandContext) -> None:
    secret = await brand.key("marketer")
    async with brand.sessions() as session:
        from sqlalchemy import text

        rows = (
            await session.execute(text("SELECT secret_hash, prefix FROM api_keys WHERE brand_id = :b"), {"b": brand.id})
        ).all()
    import hashlib

    assert hashlib.sha256(secret.encode()).digest() in {bytes(r.secret_hash) for r in rows}
    assert all(secret not in r.prefix or len(r.prefix) < len(secret) for r in rows)


async def test_revoked_key_is_refused(brand: BrandContext) -> None:
    client = brand.client
    created = (await client.post("/v1/api-keys", json={"name": "tmp", "role": "admin"}, headers=brand.admin)).json()
    headers = brand.bearer(created["secret"])
    assert (await client.get("/v1/brand", headers=headers)).status_code == 200

    revoked = await client.delete(f"/v1/api-keys/{created['id']}", headers=brand.admin)
    assert revoked.status_code == 204

    refused = await client.get("/v1/brand", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "unauthorized"
    assert "www-authenticate" in refused.headers

    # Revoked keys leave the default list but stay visible for audit.
    active = (await client.get("/v1/api-keys", headers=brand.admin)).json()["items"]
    assert created["id"] not in {i["id"] for i in active}
    everything = (await client.get("/v1/api-keys?include_revoked=true", headers=brand.admin)).json()["items"]
    assert next(i for i in everything if i["id"] == created["id"])["revoked_at"] is not None


async def test_last_admin_key_cannot_be_revoked(brand: BrandContext) -> None:
    keys = (await brand.client.get("/v1/api-keys", headers=brand.admin)).json()["items"]
    (admin,) = [k for k in keys if k["role"] == "admin"]
    answer = await brand.client.delete(f"/v1/api-keys/{admin['id']}", headers=brand.admin)
    assert answer.status_code == 409
    assert answer.json()["code"] == "last_admin_key"
    # With a second admin key, the first may go.
    second = await brand.key("admin")
    answer = await brand.client.delete(f"/v1/api-keys/{admin['id']}", headers=brand.bearer(second))
    assert answer.status_code == 204


async def test_key_scopes_are_checked_at_creation(brand: BrandContext) -> None:
    client = brand.client
    no_store = await client.post("/v1/api-keys", json={"name": "m", "role": "manager"}, headers=brand.admin)
    assert no_store.status_code == 422
    assert no_store.json()["errors"][0]["field"] == "store_ids"
    stray = await client.post(
        "/v1/api-keys", json={"name": "m", "role": "marketer", "store_ids": [str(uuid.uuid4())]}, headers=brand.admin
    )
    assert stray.status_code == 422
    assert stray.json()["errors"][0]["field"] == "store_ids"
    unknown = await client.post(
        "/v1/api-keys", json={"name": "m", "role": "manager", "store_ids": [str(uuid.uuid4())]}, headers=brand.admin
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "store_ids[0]"
    bad_role = await client.post("/v1/api-keys", json={"name": "x", "role": "owner"}, headers=brand.admin)
    assert bad_role.status_code == 422
    assert bad_role.json()["errors"][0]["field"] == "role"


async def test_list_is_cursor_paginated(brand: BrandContext) -> None:
    for n in range(4):
        await brand.key("marketer", name=f"k{n}")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await brand.client.get("/v1/api-keys", params=params, headers=brand.admin)).json()
        seen += [i["id"] for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5

    bad = await brand.client.get("/v1/api-keys", params={"cursor": "garbage!"}, headers=brand.admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0] == {
        "field": "cursor",
        "message": "not a cursor this API returned",
        "source": "query",
    }
    too_big = await brand.client.get("/v1/api-keys", params={"limit": 501}, headers=brand.admin)
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["field"] == "limit"
    assert too_big.json()["errors"][0]["source"] == "query"


async def test_other_brands_keys_are_404(brand: BrandContext, other_brand: BrandContext) -> None:
    theirs = (await other_brand.client.get("/v1/api-keys", headers=other_brand.admin)).json()["items"][0]
    answer = await brand.client.delete(f"/v1/api-keys/{theirs['id']}", headers=brand.admin)
    missing = await brand.client.delete(f"/v1/api-keys/{uuid.uuid4()}", headers=brand.admin)
    assert answer.status_code == missing.status_code == 404
    assert answer.json()["code"] == missing.json()["code"] == "not_found"
    assert answer.json()["detail"] == missing.json()["detail"]
    # And it is still alive for its own brand.
    assert (await other_brand.client.get("/v1/brand", headers=other_brand.admin)).status_code == 200
