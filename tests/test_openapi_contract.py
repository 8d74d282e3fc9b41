"""The OpenAPI document tells a client every answer: problem details on every error, per route (#15 item 15)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from solomo.app import create_app
from solomo.config import Settings
from solomo.openapi_doc import OPENAPI_PATH, render_openapi

NOWHERE = "postgresql+asyncpg://postgres@/solomo?host=/nonexistent-socket-dir"  # building the app connects to nothing
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def document(settings: Settings) -> dict[str, Any]:
    import json

    loaded: dict[str, Any] = json.loads(render_openapi(create_app(settings, database_url=NOWHERE)))
    return loaded


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _codes(operation: dict[str, Any], status: int) -> str:
    description: str = operation["responses"][str(status)]["description"]
    return description


def test_every_error_answer_is_problem_details(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        for status, answer in operation["responses"].items():
            if int(status) < 400:
                continue
            assert answer["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, (method, path, status)
            assert "`code` is one of" in answer["description"], (method, path, status)
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "code"}


def test_statuses_follow_from_the_route(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        statuses = {int(status) for status in operation["responses"]}
        where = (method, path)
        if path.startswith("/v1/"):
            assert {401, 403, 429, 503} <= statuses, where
            assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= operation["responses"]["429"]["headers"].keys()
            assert "Retry-After" in operation["responses"]["503"]["headers"]
        if "{" in path:
            assert 404 in statuses, where
        if "requestBody" in operation:
            assert {400, 413, 415, 422} <= statuses, where
        idempotent = any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
        if idempotent:
            assert {400, 409, 422} <= statuses, where
            assert "idempotency_key_in_use" in _codes(operation, 409)
    assert sum(1 for *_, op in _operations(document) if "Idempotency-Key" in str(op.get("parameters"))) == 4


def test_route_specific_answers_are_declared_beside_the_handler(document: dict[str, Any]) -> None:
    claim = document["paths"]["/v1/offers/{offer_id}/claims"]["post"]
    assert "offer_exhausted" in _codes(claim, 409)
    assert "not_eligible" in _codes(claim, 403)
    redeem = document["paths"]["/v1/redemptions"]["post"]
    assert {"404", "409", "410"} <= redeem["responses"].keys()
    assert "expired" in _codes(redeem, 410)
    assert "member_token_required" in _codes(document["paths"]["/v1/checkins"]["post"], 403)
    assert "404" in document["paths"]["/v1/stats/daily"]["get"]["responses"]  # its store_id filter must exist
    upsert = document["paths"]["/v1/members"]["post"]["responses"]
    assert upsert["200"]["content"] == upsert["201"]["content"]  # updated or created: the same member body


def test_health_needs_no_credential(document: dict[str, Any]) -> None:
    # A bearer, or the console's session cookie (which acts as the key it was signed in with).
    assert document["security"] == [{"bearer": []}, {"console_session": []}]
    assert document["components"]["securitySchemes"]["console_session"]["in"] == "cookie"
    for method in ("get", "post", "delete"):  # the console's sign-in takes a key in its body, or the cookie
        assert document["paths"]["/console/session"][method]["security"] == [], method
    for path in ("/health/live", "/health/ready"):
        operation = document["paths"][path]["get"]
        assert operation["security"] == [], path
        assert "401" not in operation["responses"]
    assert "503" in document["paths"]["/health/ready"]["get"]["responses"]


def test_bodies_that_refuse_unknown_fields_say_so(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("StoreCreate", "StorePatch", "MemberUpsert", "SocialAccountIn", "CheckinIn", "Where"):
        assert schemas[name].get("additionalProperties") is False, name
    for name in ("Feature", "FeatureCollection", "Point", "Polygon", "MultiPolygon"):
        assert "additionalProperties" not in schemas[name], name  # GeoJSON allows foreign members


def test_a_generated_client_has_no_warnings(tmp_path: Path) -> None:
    """openapi-python-client drops an error answer it cannot read, with a warning: the committed file has none."""
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # formatting the output is not what is tested
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert generator is not None
    result = subprocess.run(
        [
            generator, "generate", "--path", str(OPENAPI_PATH), "--output-path", str(tmp_path / "client"),
            "--config", str(config), "--overwrite",
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    generated = list((tmp_path / "client").rglob("problem.py"))
    assert generated, "the client has no Problem model"
