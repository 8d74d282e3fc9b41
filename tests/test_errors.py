"""Problem details for every error: 400 only for a body that is not JSON, 422 naming the field, 413 over the cap."""

from __future__ import annotations

from tests.conftest import BrandContext


def _problem(answer: object) -> dict[str, object]:
    assert answer.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = answer.json()  # type: ignore[attr-defined]
    assert {"type", "title", "status", "code"} <= body.keys()
    return body


async def test_body_that_is_not_json_is_400(brand: BrandContext) -> None:
    answer = await brand.client.patch(
        "/v1/brand", content=b"{nope", headers=brand.admin | {"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert _problem(answer)["code"] == "malformed_json"


async def test_a_wrong_value_followed_by_garbage_is_400(brand: BrandContext) -> None:
    """The typed decoder stops at the wrong value before it sees that the rest is not JSON: still a 400."""
    answer = await brand.client.post(
        "/v1/stores", content=b"1 2", headers=brand.admin | {"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert _problem(answer)["code"] == "malformed_json"


async def test_unknown_field_is_422_naming_it(brand: BrandContext) -> None:
    answer = await brand.client.patch("/v1/brand", json={"timezone": "UTC", "colour": "red"}, headers=brand.admin)
    assert answer.status_code == 422
    body = _problem(answer)
    assert body["code"] == "validation_failed"
    assert body["errors"] == [
        {"field": "colour", "message": "Object contains unknown field `colour`", "source": "body"}
    ]


async def test_wrong_type_and_range_are_422_naming_the_field(brand: BrandContext) -> None:
    wrong_type = await brand.client.patch("/v1/brand", json={"retention_days": "ninety"}, headers=brand.admin)
    assert wrong_type.status_code == 422
    assert _problem(wrong_type)["errors"][0]["field"] == "retention_days"  # type: ignore[index]
    out_of_range = await brand.client.patch("/v1/brand", json={"tolerance_cap_m": 5000}, headers=brand.admin)
    assert out_of_range.status_code == 422
    assert _problem(out_of_range)["errors"][0]["field"] == "tolerance_cap_m"  # type: ignore[index]
    missing = await brand.client.post("/v1/api-keys", json={"role": "admin"}, headers=brand.admin)
    assert missing.status_code == 422
    assert _problem(missing)["errors"][0]["field"] == "name"  # type: ignore[index]


async def test_nothing_is_half_written_on_a_refused_patch(brand: BrandContext) -> None:
    before = (await brand.client.get("/v1/brand", headers=brand.admin)).json()
    answer = await brand.client.patch(
        "/v1/brand", json={"retention_days": 30, "timezone": "Nowhere/Land"}, headers=brand.admin
    )
    assert answer.status_code == 422
    assert _problem(answer)["errors"][0]["field"] == "timezone"  # type: ignore[index]
    after = (await brand.client.get("/v1/brand", headers=brand.admin)).json()
    assert after == before


async def test_body_over_the_cap_is_413(brand: BrandContext) -> None:
    huge = b'{"name": "' + b"x" * 1_100_000 + b'"}'
    answer = await brand.client.patch(
        "/v1/brand", content=huge, headers=brand.admin | {"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert _problem(answer)["code"] == "body_too_large"


async def test_unknown_route_and_method(brand: BrandContext) -> None:
    missing = await brand.client.get("/v1/nothing-here", headers=brand.admin)
    assert missing.status_code == 404
    assert _problem(missing)["code"] == "not_found"
    wrong_method = await brand.client.put("/v1/brand", json={}, headers=brand.admin)
    assert wrong_method.status_code == 405
    assert _problem(wrong_method)["code"] == "method_not_allowed"


async def test_brand_settings_round_trip(brand: BrandContext) -> None:
    answer = await brand.client.patch(
        "/v1/brand",
        json={"timezone": "Asia/Tokyo", "tolerance_cap_m": 25, "eligibility_window_min": 30, "retention_days": 14},
        headers=brand.admin,
    )
    assert answer.status_code == 200, answer.text
    got = (await brand.client.get("/v1/brand", headers=brand.admin)).json()
    assert (got["timezone"], got["tolerance_cap_m"], got["eligibility_window_min"], got["retention_days"]) == (
        "Asia/Tokyo", 25.0, 30, 14,
    )  # fmt: skip
    assert got["accuracy_limit_m"] == 200.0  # untouched fields keep their defaults
    assert got["speed_limit_kmh"] == 300.0


async def test_every_bad_field_is_named_nested_and_in_lists(brand: BrandContext) -> None:
    """msgspec stops at the first error; the answer names each one, with the path and message msgspec gives it."""
    body = {
        "external_id": 5,
        "colour": "red",
        "social_account": {"provider": "myspace", "uid": "", "followers": -1},
        "tags": ["ok", 7, "fine", 8],
        "consent": {"location": "yes"},
    }
    answer = await brand.client.post("/v1/members", json=body, headers=brand.admin)
    assert answer.status_code == 422, answer.text
    named = [(error["field"], error["message"]) for error in _problem(answer)["errors"]]  # type: ignore[attr-defined]
    assert named == [
        ("external_id", "Expected `str`, got `int`"),
        ("colour", "Object contains unknown field `colour`"),
        ("social_account.provider", "Invalid enum value 'myspace'"),
        ("social_account.uid", "Expected `str` of length >= 1"),
        ("social_account.followers", "Expected `int` >= 0"),
        ("tags[1]", "Expected `str`, got `int`"),
        ("tags[3]", "Expected `str`, got `int`"),
        ("consent.location", "Expected `bool`, got `str`"),
    ]


async def test_a_single_bad_field_reads_as_before(brand: BrandContext) -> None:
    answer = await brand.client.post(
        "/v1/members", json={"social_account": {"provider": "qq", "uid": "1", "extra": 1}}, headers=brand.admin
    )
    assert answer.status_code == 422
    assert _problem(answer)["errors"] == [
        {"field": "social_account.extra", "message": "Object contains unknown field `extra`", "source": "body"}
    ]


async def test_missing_fields_are_all_named(brand: BrandContext) -> None:
    answer = await brand.client.post("/v1/stores", json={"tags": []}, headers=brand.admin)
    assert answer.status_code == 422
    fields = {error["field"] for error in _problem(answer)["errors"]}  # type: ignore[attr-defined]
    assert {"name", "location"} <= fields


async def test_a_body_that_does_not_say_it_is_json_is_415(brand: BrandContext) -> None:
    body = b'{"external_id": "m-415"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = brand.admin | ({"Content-Type": content_type} if content_type else {})
        answer = await brand.client.post("/v1/members", content=body, headers=headers)
        assert answer.status_code == 415, (content_type, answer.text)
        assert _problem(answer)["code"] == "unsupported_media_type"
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        answer = await brand.client.post(
            "/v1/members", content=body, headers=brand.admin | {"Content-Type": content_type}
        )
        assert answer.status_code in (200, 201), (content_type, answer.text)


async def test_geojson_media_type_is_json_for_the_import(brand: BrandContext) -> None:
    answer = await brand.client.post(
        "/v1/geofences/import",
        content=b'{"type": "FeatureCollection", "features": []}',
        headers=brand.admin | {"Content-Type": "application/geo+json"},
    )
    assert answer.status_code != 415, answer.text
    plain = await brand.client.post(
        "/v1/geofences/import",
        content=b'{"type": "FeatureCollection", "features": []}',
        headers=brand.admin | {"Content-Type": "text/plain"},
    )
    assert plain.status_code == 415


async def test_a_route_without_a_body_ignores_the_content_type(brand: BrandContext) -> None:
    member = await brand.member()
    answer = await brand.client.post(
        f"/v1/members/{member['id']}/tokens", headers=brand.admin | {"Content-Type": "text/plain"}
    )
    assert answer.status_code == 201, answer.text


async def test_options_on_a_guarded_route_is_not_a_500(brand: BrandContext) -> None:
    """Litestar answers OPTIONS itself, before authentication; a controller's guards must let it through."""
    store = await brand.store()
    manager = await brand.key("manager", [store["id"]])
    for path in ("/v1/redemptions", "/v1/api-keys", f"/v1/campaigns/{brand.id}"):
        answer = await brand.client.options(path, headers=brand.bearer(manager))
        assert answer.status_code == 204, (path, answer.text)
        assert "GET" in answer.headers["allow"] or "POST" in answer.headers["allow"]
