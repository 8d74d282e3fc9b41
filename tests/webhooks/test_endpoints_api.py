"""Webhook endpoints through the API: create (the secret once), list, change, disable/enable, delete, rotate."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from solomo.webhooks.events import EVENT_TYPES
from solomo.webhooks.sender import EndpointForSending
from solomo.webhooks.signing import signature_header
from tests.conftest import BrandContext

BASE = "/v1/webhook-endpoints"
URL = "https://crm.example.com/hooks/solomo"


async def _create(brand: BrandContext, **fields: Any) -> dict[str, Any]:
    response = await brand.client.post(BASE, json={"url": URL} | fields, headers=brand.admin)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _columns(brand: BrandContext, endpoint_id: str) -> dict[str, Any]:
    async with brand.sessions() as session:
        row = (
            await session.execute(
                text("SELECT * FROM webhook_endpoints WHERE brand_id = :b AND id = :e"),
                {"b": brand.id, "e": uuid.UUID(endpoint_id)},
            )
        ).one()
    return dict(row._mapping)


async def _set(brand: BrandContext, endpoint_id: str, assignments: str, **params: Any) -> None:
    async with brand.sessions() as session:
        await session.execute(
            text(f"UPDATE webhook_endpoints SET {assignments} WHERE brand_id = :b AND id = :e"),
            {"b": brand.id, "e": uuid.UUID(endpoint_id), **params},
        )
        await session.commit()


def _field_errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {error["field"]: error["message"] for error in response.json()["errors"]}


async def test_create_shows_the_secret_once(brand: BrandContext) -> None:
    created = await _create(brand, description="CRM", event_types=["coupon.redeemed", "geofence.entered"])
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert created["url"] == URL
    assert created["description"] == "CRM"
    assert created["event_types"] == ["coupon.redeemed", "geofence.entered"]
    assert created["enabled"] is True
    assert created["include_location"] is False
    assert created["disabled_reason"] is None
    assert created["failing_since"] is None
    assert (await _columns(brand, created["id"]))["secret"] == secret

    one = await brand.client.get(f"{BASE}/{created['id']}", headers=brand.admin)
    listed = await brand.client.get(BASE, headers=brand.admin)
    assert one.status_code == listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    for shown in (one.text, listed.text):
        assert secret not in shown
        assert 'secret"' not in shown  # neither the secret nor the previous one is ever a field again
    assert one.json() == {k: v for k, v in created.items() if k != "secret"}


async def test_defaults_and_all_event_types(brand: BrandContext) -> None:
    created = await _create(brand, event_types=None)
    assert created["event_types"] is None  # every type, today's and future ones
    assert (await _columns(brand, created["id"]))["event_types"] is None
    every = await _create(brand, event_types=[*EVENT_TYPES, "coupon.claimed"], include_location=True, enabled=False)
    assert every["event_types"] == sorted(EVENT_TYPES)  # each once
    assert every["include_location"] is True
    assert every["enabled"] is False
    assert every["disabled_reason"] == "disabled_by_user"
    assert every["disabled_at"] is not None


async def test_only_admins(brand: BrandContext) -> None:
    created = await _create(brand)
    store = await brand.store()
    member = await brand.member()
    callers = {
        "manager": brand.bearer(await brand.key("manager", [store["id"]])),
        "marketer": brand.bearer(await brand.key("marketer")),
        "member": brand.bearer(await brand.member_token(member["id"])),
    }
    routes = [
        ("GET", BASE, None),
        ("POST", BASE, {"url": URL}),
        ("GET", f"{BASE}/{created['id']}", None),
        ("PATCH", f"{BASE}/{created['id']}", {"enabled": False}),
        ("DELETE", f"{BASE}/{created['id']}", None),
        ("POST", f"{BASE}/{created['id']}/secret/rotate", None),
        ("GET", f"{BASE}/{created['id']}/deliveries", None),
        ("POST", f"{BASE}/{created['id']}/test", None),
        ("POST", f"{BASE}/{created['id']}/replay", {"since": "2026-01-01T00:00:00Z"}),
    ]
    for method, path, body in routes:
        for role, headers in callers.items():
            response = await brand.client.request(method, path, json=body, headers=headers)
            assert response.status_code == 403, (method, path, role, response.text)
            expected = "api_key_required" if role == "member" else "role_not_allowed"
            assert response.json()["code"] == expected, (method, path, role)
        anonymous = await brand.client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
    assert (await _columns(brand, created["id"]))["enabled"] is True  # nothing was changed


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://crm.example.com/hook", "https"),
        ("https://user:pw@crm.example.com/hook", "userinfo"),
        ("https://crm.example.com:22/hook", "port 22 is not allowed"),
        ("https://10.0.0.1/hook", "not a public internet address"),
        ("https://[::1]/hook", "not a public internet address"),
        ("https://169.254.169.254/latest/meta-data", "not a public internet address"),
        ("https://2130706433/hook", "four decimal numbers"),
        ("https://localhost/hook", "localhost"),
        ("not a url", "spaces"),
    ],
)
async def test_a_bad_url_is_a_422_naming_url(brand: BrandContext, url: str, says: str) -> None:
    response = await brand.client.post(BASE, json={"url": url}, headers=brand.admin)
    errors = _field_errors(response)
    assert list(errors) == ["url"]
    assert says in errors["url"]
    assert response.json()["code"] == "validation_failed"


async def test_an_unknown_event_type_is_named_by_its_index(brand: BrandContext) -> None:
    response = await brand.client.post(
        BASE, json={"url": URL, "event_types": ["coupon.claimed", "coupon.eaten"]}, headers=brand.admin
    )
    assert list(_field_errors(response)) == ["event_types[1]"]
    empty = await brand.client.post(BASE, json={"url": URL, "event_types": []}, headers=brand.admin)
    assert list(_field_errors(empty)) == ["event_types"]
    unknown = await brand.client.post(BASE, json={"url": URL, "secret": "whsec_mine"}, headers=brand.admin)
    assert list(_field_errors(unknown)) == ["secret"]
    async with brand.sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM webhook_endpoints WHERE brand_id = :b"), {"b": brand.id}
        )
    assert count == 0


async def test_patch_changes_what_it_names(brand: BrandContext) -> None:
    created = await _create(brand, event_types=["coupon.claimed"])
    path = f"{BASE}/{created['id']}"
    response = await brand.client.patch(
        path,
        json={"url": "https://other.example.com:8443/in", "description": "new", "include_location": True},
        headers=brand.admin,
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["url"] == "https://other.example.com:8443/in"
    assert patched["description"] == "new"
    assert patched["include_location"] is True
    assert patched["event_types"] == ["coupon.claimed"]  # left out: unchanged
    everything = await brand.client.patch(path, json={"event_types": None}, headers=brand.admin)
    assert everything.json()["event_types"] is None
    bad = await brand.client.patch(path, json={"url": "https://192.168.1.1/"}, headers=brand.admin)
    assert list(_field_errors(bad)) == ["url"]
    bad_type = await brand.client.patch(path, json={"event_types": ["nope"]}, headers=brand.admin)
    assert list(_field_errors(bad_type)) == ["event_types[0]"]
    assert (await _columns(brand, created["id"]))["url"] == "https://other.example.com:8443/in"


async def test_disable_and_enable(brand: BrandContext) -> None:
    created = await _create(brand)
    path = f"{BASE}/{created['id']}"
    disabled = (await brand.client.patch(path, json={"enabled": False}, headers=brand.admin)).json()
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"] == "disabled_by_user"
    assert disabled["disabled_at"] is not None
    enabled = (await brand.client.patch(path, json={"enabled": True}, headers=brand.admin)).json()
    assert enabled["enabled"] is True
    assert enabled["disabled_reason"] is None
    assert enabled["disabled_at"] is None

    # The worker turned it off (5 days failing): the brand sees why, and enabling clears it all.
    await _set(
        brand,
        created["id"],
        "enabled = false, disabled_reason = 'failing', disabled_at = now(), failing_since = now() - interval '5 days'",
    )
    seen = (await brand.client.get(path, headers=brand.admin)).json()
    assert seen["disabled_reason"] == "failing"
    assert seen["failing_since"] is not None
    # Turning off what is already off keeps the reason the worker gave.
    again = (await brand.client.patch(path, json={"enabled": False}, headers=brand.admin)).json()
    assert again["disabled_reason"] == "failing"
    back = (await brand.client.patch(path, json={"enabled": True}, headers=brand.admin)).json()
    assert (back["enabled"], back["disabled_reason"], back["disabled_at"], back["failing_since"]) == (
        True,
        None,
        None,
        None,
    )


async def test_delete(brand: BrandContext) -> None:
    created = await _create(brand)
    path = f"{BASE}/{created['id']}"
    deleted = await brand.client.delete(path, headers=brand.admin)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await brand.client.get(path, headers=brand.admin)).status_code == 404
    assert (await brand.client.delete(path, headers=brand.admin)).status_code == 404


async def test_another_brands_endpoint_is_not_found(brand: BrandContext, other_brand: BrandContext) -> None:
    theirs = await _create(other_brand)
    path = f"{BASE}/{theirs['id']}"
    attempts = [
        ("GET", path, None),
        ("PATCH", path, {"enabled": False}),
        ("DELETE", path, None),
        ("POST", f"{path}/secret/rotate", None),
        ("GET", f"{path}/deliveries", None),
        ("GET", f"{path}/messages/msg_{uuid.uuid4().hex}", None),
        ("POST", f"{path}/replay", {"since": "2026-01-01T00:00:00Z"}),
        ("POST", f"{path}/test", None),
    ]
    for method, route, body in attempts:
        response = await brand.client.request(method, route, json=body, headers=brand.admin)
        assert response.status_code == 404, (method, route, response.text)
        assert response.json()["code"] == "not_found"
    assert (await brand.client.get(BASE, headers=brand.admin)).json()["items"] == []
    columns = await _columns(other_brand, theirs["id"])
    assert columns["enabled"] is True
    assert columns["secret"] == theirs["secret"]


async def test_list_pages_newest_first(brand: BrandContext) -> None:
    made = [(await _create(brand, description=str(i)))["id"] for i in range(3)]
    first = (await brand.client.get(BASE, params={"limit": 2}, headers=brand.admin)).json()
    assert [item["id"] for item in first["items"]] == made[::-1][:2]
    rest = await brand.client.get(BASE, params={"limit": 2, "cursor": first["next_cursor"]}, headers=brand.admin)
    assert [item["id"] for item in rest.json()["items"]] == made[:1]
    assert rest.json()["next_cursor"] is None


async def test_rotation_keeps_the_old_secret_signing_during_the_overlap(brand: BrandContext) -> None:
    created = await _create(brand)
    old = created["secret"]
    path = f"{BASE}/{created['id']}/secret/rotate"
    response = await brand.client.post(path, json={"overlap_hours": 2}, headers=brand.admin)
    assert response.status_code == 200, response.text
    rotated = response.json()
    new = rotated["secret"]
    assert new.startswith("whsec_")
    assert new != old
    columns = await _columns(brand, created["id"])
    assert (columns["secret"], columns["previous_secret"]) == (new, old)
    until = columns["previous_secret_until"]
    assert abs(until - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=1)
    assert rotated["previous_secret_until"] is not None
    shown = await brand.client.get(f"{BASE}/{created['id']}", headers=brand.admin)
    assert old not in shown.text
    assert new not in shown.text

    # The delivery side signs with both while the overlap lasts: a receiver knowing either secret verifies.
    endpoint = EndpointForSending(
        id=uuid.UUID(created["id"]),
        url=URL,
        secret=columns["secret"],
        previous_secret=columns["previous_secret"],
        previous_secret_until=until,
    )
    now = datetime.now(UTC)
    body, msg_id, timestamp = b'{"type":"webhook.test"}', f"msg_{uuid.uuid4().hex}", int(now.timestamp())
    signature = signature_header(endpoint.signing_secrets(now), msg_id, timestamp, body)
    assert len(signature.split(" ")) == 2
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}
    for secret in (old, new):
        Webhook(secret).verify(body, headers)
    assert endpoint.signing_secrets(until + timedelta(seconds=1)) == [new]  # then only the new one


async def test_rotation_defaults_to_a_day_and_zero_ends_the_old_secret_now(brand: BrandContext) -> None:
    created = await _create(brand)
    path = f"{BASE}/{created['id']}/secret/rotate"
    first = await brand.client.post(path, headers=brand.admin)  # no body: 24 hours
    assert first.status_code == 200, first.text
    columns = await _columns(brand, created["id"])
    assert columns["previous_secret"] == created["secret"]
    assert abs(columns["previous_secret_until"] - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)
    now = await brand.client.post(path, json={"overlap_hours": 0}, headers=brand.admin)
    assert now.status_code == 200
    columns = await _columns(brand, created["id"])
    assert columns["secret"] == now.json()["secret"]
    assert columns["previous_secret"] is None
    assert columns["previous_secret_until"] is None
    too_long = await brand.client.post(path, json={"overlap_hours": 169}, headers=brand.admin)
    assert list(_field_errors(too_long)) == ["overlap_hours"]
