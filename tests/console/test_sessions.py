"""Console sign-in: an API key exchanged for an HttpOnly session cookie, which then acts as the key on /v1, with
CSRF protection on every state change; sign-out and key revocation end the session on the server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import BrandContext
from tests.coupon_helpers import open_shop, scalar


class Console:
    """A browser signed in to the console: the cookie and the CSRF token its pages hold."""

    def __init__(self, brand: BrandContext, answer: httpx.Response) -> None:
        assert answer.status_code == 201, answer.text
        self.brand = brand
        self.session: dict[str, Any] = answer.json()
        self.set_cookie = answer.headers["set-cookie"]
        self.cookie = self.set_cookie.split(";", 1)[0]
        brand.client.cookies.clear()  # the shared test client must not carry it into other tests

    def headers(self, *, csrf: bool = True, **extra: str) -> dict[str, str]:
        sent = {"Cookie": self.cookie} | extra
        if csrf:
            sent["X-CSRF-Token"] = self.session["csrf_token"]
        return sent

    async def get(self, path: str) -> httpx.Response:
        return await self.brand.client.get(path, headers=self.headers(csrf=False))


async def execute(brand: BrandContext, sql: str) -> None:
    async with brand.sessions() as session, session.begin():
        await session.execute(text(sql), {"b": brand.id})


async def sign_in(brand: BrandContext, key: str | None = None) -> Console:
    answer = await brand.client.post("/console/session", json={"api_key": key or brand.admin_key})
    return Console(brand, answer)


async def test_signing_in_sets_an_httponly_strict_cookie_and_never_keeps_the_key(brand: BrandContext) -> None:
    console = await sign_in(brand)
    attributes = [part.strip().lower() for part in console.set_cookie.split(";")]
    assert console.cookie.startswith(f"solomo_console={brand.id}.")
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes  # served over http here: a Secure cookie would never come back
    assert brand.admin_key not in console.set_cookie
    assert console.session["role"] == "admin"
    keys = (await brand.client.get("/v1/api-keys", headers=brand.admin)).json()["items"]
    assert console.session["key_id"] == next(k["id"] for k in keys if brand.admin_key.startswith(k["prefix"]))
    assert console.session["brand_name"] == "Brand A"
    assert console.session["timezone"] == "Europe/Paris"
    stored = await scalar(brand, "SELECT count(*) FROM console_sessions WHERE brand_id = :b", b=brand.id)
    assert stored == 1
    again = await console.get("/console/session")
    assert again.status_code == 200, again.text
    assert again.json()["csrf_token"] == console.session["csrf_token"]


async def test_the_cookie_is_secure_over_https(brand: BrandContext) -> None:
    answer = await brand.client.post("https://testserver.local/console/session", json={"api_key": brand.admin_key})
    console = Console(brand, answer)
    assert "secure" in [part.strip().lower() for part in console.set_cookie.split(";")]


async def test_another_site_cannot_sign_a_browser_in(brand: BrandContext) -> None:
    answer = await brand.client.post(
        "/console/session", json={"api_key": brand.admin_key}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "csrf_failed"
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("key", ["sk_not-a-real-key", "not even a key"])
async def test_an_unknown_key_signs_nobody_in(brand: BrandContext, key: str) -> None:
    answer = await brand.client.post("/console/session", json={"api_key": key})
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "invalid_api_key"
    assert "set-cookie" not in answer.headers


async def test_a_missing_or_forged_cookie_is_not_signed_in(brand: BrandContext) -> None:
    assert (await brand.client.get("/console/session")).status_code == 401
    console = await sign_in(brand)
    forged = console.cookie[:-4] + "AAAA"
    answer = await brand.client.get("/console/session", headers={"Cookie": forged})
    assert answer.status_code == 401
    answer = await brand.client.get("/v1/stores", headers={"Cookie": forged})
    assert answer.status_code == 401


async def test_the_cookie_acts_as_the_key_on_v1_and_state_changes_need_the_csrf_token(brand: BrandContext) -> None:
    console = await sign_in(brand)
    assert (await console.get("/v1/stores")).status_code == 200
    body = {
        "name": "Till street",
        "timezone": "Europe/Paris",
        "location": {"type": "Point", "coordinates": [2.3, 48.8]},
    }
    refused = await brand.client.post("/v1/stores", json=body, headers=console.headers(csrf=False))
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "csrf_failed"
    wrong = await brand.client.post("/v1/stores", json=body, headers=console.headers() | {"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    other_site = await brand.client.post(
        "/v1/stores", json=body, headers=console.headers(Origin="https://evil.example")
    )
    assert other_site.status_code == 403
    cross_site = await brand.client.post(
        "/v1/stores", json=body, headers=console.headers() | {"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403
    stores = await scalar(brand, "SELECT count(*) FROM stores WHERE brand_id = :b", b=brand.id)
    assert stores == 0, "a refused request wrote nothing"
    made = await brand.client.post(
        "/v1/stores",
        json=body,
        headers=console.headers(Origin="http://testserver.local") | {"Sec-Fetch-Site": "same-origin"},
    )
    assert made.status_code == 201, made.text


async def test_a_manager_session_sees_only_its_stores(brand: BrandContext) -> None:
    mine = await brand.store(name="Mine")
    theirs = await brand.store(name="Theirs")
    console = await sign_in(brand, await brand.key("manager", [mine["id"]]))
    assert console.session["role"] == "manager"
    assert console.session["store_ids"] == [mine["id"]]
    listed = await console.get("/v1/stores")
    assert [s["id"] for s in listed.json()["items"]] == [mine["id"]]
    assert (await console.get(f"/v1/stores/{theirs['id']}")).status_code in (403, 404)


async def test_revoking_the_key_ends_its_sessions_at_once(brand: BrandContext) -> None:
    key = await brand.key("marketer")
    console = await sign_in(brand, key)
    assert (await console.get("/v1/offers")).status_code == 200
    keys = (await brand.client.get("/v1/api-keys", headers=brand.admin)).json()["items"]
    key_id = next(k["id"] for k in keys if key.startswith(k["prefix"]) and k["role"] == "marketer")
    assert (await brand.client.delete(f"/v1/api-keys/{key_id}", headers=brand.admin)).status_code == 204
    assert (await console.get("/v1/offers")).status_code == 401
    assert (await console.get("/console/session")).status_code == 401


async def test_an_idle_session_ends(brand: BrandContext) -> None:
    console = await sign_in(brand)
    await execute(brand, "UPDATE console_sessions SET idle_until = now() - interval '1 second' WHERE brand_id = :b")
    assert (await console.get("/console/session")).status_code == 401
    assert (await console.get("/v1/stores")).status_code == 401


async def test_use_slides_the_idle_deadline_but_not_past_the_expiry(brand: BrandContext) -> None:
    console = await sign_in(brand)
    await execute(
        brand,
        "UPDATE console_sessions SET idle_until = now() + interval '10 minutes', expires_at = now() + interval '1 hour'"
        " WHERE brand_id = :b",
    )
    assert (await console.get("/v1/stores")).status_code == 200
    left = await scalar(
        brand, "SELECT extract(epoch FROM idle_until - now()) FROM console_sessions WHERE brand_id = :b", b=brand.id
    )
    assert 3590 < float(left) <= 3600  # slid to the expiry, which is sooner than the 2-hour idle window


async def test_signing_out_ends_the_session_on_the_server(brand: BrandContext) -> None:
    console = await sign_in(brand)
    refused = await brand.client.delete("/console/session", headers=console.headers(csrf=False))
    assert refused.status_code == 403
    out = await brand.client.delete("/console/session", headers=console.headers())
    assert out.status_code == 204, out.text
    cleared = out.headers["set-cookie"].lower()
    assert cleared.startswith("solomo_console=")
    assert "max-age=0" in cleared
    assert (await scalar(brand, "SELECT count(*) FROM console_sessions WHERE brand_id = :b", b=brand.id)) == 0
    assert (await console.get("/v1/stores")).status_code == 401


async def test_the_till_redeems_through_the_session_with_the_csrf_token(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    coupon = await shop.claimed()
    console = await sign_in(brand, await brand.key("manager", [shop.scene.store["id"]]))
    body = {"code": coupon["code"], "store_id": shop.scene.store["id"]}
    refused = await brand.client.post("/v1/redemptions", json=body, headers=console.headers(csrf=False))
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "csrf_failed"
    redeemed = await brand.client.post("/v1/redemptions", json=body, headers=console.headers())
    assert redeemed.status_code == 201, redeemed.text
    again = await brand.client.post("/v1/redemptions", json=body, headers=console.headers())
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "already_redeemed"


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "api_key"), ({"api_key": 5}, "api_key"), ({"api_key": ""}, "api_key"), ({"api_key": "sk_x", "k": 1}, "k")],
)
async def test_a_bad_sign_in_body_names_its_field(brand: BrandContext, body: dict[str, Any], field: str) -> None:
    answer = await brand.client.post("/console/session", json=body)
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert "set-cookie" not in answer.headers
