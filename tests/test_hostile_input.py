"""Input a client can send that the database would refuse: always a 4xx problem, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import BrandContext


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("post", "/v1/members", {"external_id": "a\u0000b"}, "external_id"),
        (
            "post",
            "/v1/members",
            {"external_id": "x", "social_account": {"provider": "qq", "uid": "1", "followers": 5_000_000_000}},
            "social_account.followers",
        ),
        ("patch", "/v1/brand", {"name": "nul\u0000name"}, "name"),
        ("post", "/v1/api-keys", {"name": "\u0000", "role": "admin"}, "name"),
    ],
)
async def test_values_the_database_would_refuse_are_422(
    brand: BrandContext, method: str, url: str, body: dict[str, Any], field: str
) -> None:
    answer = await getattr(brand.client, method)(url, json=body, headers=brand.admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    "url",
    [
        "/v1/stores?tag=a%00b",
        "/v1/members?tier=%00",
        "/v1/stores/not-a-uuid",
        "/v1/geofences?store_id=nope",
        "/v1/members/00000000-0000-0000-0000-000000000000/social-accounts/qq/%00",
    ],
)
async def test_hostile_query_and_path_values_are_4xx(brand: BrandContext, url: str) -> None:
    method = "delete" if "social-accounts" in url else "get"
    answer = await getattr(brand.client, method)(url, headers=brand.admin)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_data_exception_from_the_database_is_a_422_not_a_500() -> None:
    """The safety net behind validation: SQLSTATE class 22 (the value was malformed) is the client's doing."""
    from types import SimpleNamespace
    from typing import cast

    from litestar import Request
    from sqlalchemy.exc import DBAPIError

    from solomo.errors import handle_exception

    class RefusedError(Exception):
        sqlstate = "22003"  # numeric_value_out_of_range

    request = cast("Request[Any, Any, Any]", SimpleNamespace(url=SimpleNamespace(path="/v1/somewhere")))
    answer = handle_exception(request, DBAPIError("INSERT …", {}, RefusedError()))
    assert answer.status_code == 422
    assert answer.content["code"] == "invalid_value"
    other = handle_exception(request, DBAPIError("INSERT …", {}, Exception("boom")))
    assert other.status_code == 500
