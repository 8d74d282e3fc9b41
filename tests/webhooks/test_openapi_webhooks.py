"""The OpenAPI ``webhooks`` section: every event type with its typed body, in the served and the committed form."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from solomo.app import create_app
from solomo.config import Settings
from solomo.openapi_doc import render_openapi
from solomo.webhooks.events import EVENT_TYPES, PAYLOADS, TEST_EVENT
from solomo.webhooks.openapi import webhook_schema

NOWHERE = "postgresql+asyncpg://postgres@/solomo?host=/nonexistent-socket-dir"  # building the app connects to nothing


@pytest.fixture(scope="module")
def document(settings: Settings) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render_openapi(create_app(settings, database_url=NOWHERE)))
    return loaded


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


def test_every_event_type_has_its_body(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    assert set(document["webhooks"]) == {*EVENT_TYPES, TEST_EVENT}
    for event_type in document["webhooks"]:
        operation = document["webhooks"][event_type]["post"]
        assert {p["name"] for p in operation["parameters"]} == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        assert "2XX" in operation["responses"]
        body = webhook_schema(document, event_type)
        assert body["required"] == ["type", "timestamp", "data"]
        assert body["properties"]["type"] == {"enum": [event_type]}
        assert body["properties"]["timestamp"]["format"] == "date-time"
        data_name = body["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
        data = document["components"]["schemas"][data_name]
        assert data_name == "Webhook" + PAYLOADS[event_type].__name__
        assert set(data["required"]) <= set(data["properties"])
        assert set(data["properties"]) == set(PAYLOADS[event_type].__struct_fields__)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for ref in _refs(document["webhooks"]) | _refs({k: v for k, v in schemas.items() if k.startswith("Webhook")}):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[-1] in schemas, ref


def test_location_is_optional_and_typed(document: dict[str, Any]) -> None:
    entered = document["components"]["schemas"]["WebhookGeofenceEvent"]
    assert "location" not in entered["required"]
    location = json.dumps(entered["properties"]["location"])
    assert "#/components/schemas/WebhookLocation" in location
    assert set(document["components"]["schemas"]["WebhookLocation"]["required"]) == {"lon", "lat", "accuracy_m"}


async def test_the_served_document_has_them(client: AsyncTestClient[Litestar]) -> None:
    served = msgspec.json.decode((await client.get("/schema/openapi.json")).content)
    assert set(served["webhooks"]) == {*EVENT_TYPES, TEST_EVENT}
