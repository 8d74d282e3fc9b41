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
