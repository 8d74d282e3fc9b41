from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from solomo.app import create_app
from solomo.config import Settings
from solomo.db.migrate import upgrade
from solomo.openapi_doc import OPENAPI_PATH, render_openapi
from tests.databases import TestDatabases


async def test_live_and_ready(client: AsyncTestClient[Litestar]) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "live"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["database"] == "ok"
    assert body["migrations"] == sorted(client.app.state.migration_heads)


@pytest.fixture(scope="module")
def stale_database_url(databases: TestDatabases) -> str:
    url = databases.create("stale")
    upgrade(url, "base")  # alembic_version exists and names no revision: behind the one head
    return url


@pytest.fixture
async def stale_client(settings: Settings, stale_database_url: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(settings, database_url=stale_database_url)) as test_client:
        yield test_client


async def test_ready_is_503_when_migrations_are_behind(stale_client: AsyncTestClient[Litestar]) -> None:
    answer = await stale_client.get("/health/ready")
    assert answer.status_code == 503
    assert answer.json()["code"] == "migrations_pending"
    assert (await stale_client.get("/health/live")).status_code == 200


async def test_ready_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    nowhere = "postgresql+asyncpg://postgres@/solomo?host=/nonexistent-socket-dir"
    async with AsyncTestClient(app=create_app(settings, database_url=nowhere)) as test_client:
        answer = await test_client.get("/health/ready")
    assert answer.status_code == 503
    assert answer.json()["code"] == "database_unavailable"


async def test_docs_page_and_schema(client: AsyncTestClient[Litestar]) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["info"]["title"] == "SoLoMo API"
    assert "/v1/api-keys" in schema["paths"]


def test_committed_openapi_matches_the_app(app: Litestar) -> None:
    assert OPENAPI_PATH.exists(), "run `solomo openapi` to write openapi/openapi.json"
    assert OPENAPI_PATH.read_text() == render_openapi(app), "openapi/openapi.json is stale: run `solomo openapi`"


async def test_api_answers_503_not_500_when_the_database_is_down(settings: Settings) -> None:
    nowhere = "postgresql+asyncpg://postgres@/solomo?host=/nonexistent-socket-dir"
    async with AsyncTestClient(app=create_app(settings, database_url=nowhere)) as test_client:
        answer = await test_client.get("/v1/brand", headers={"Authorization": "Bearer sk_anything"})
    assert answer.status_code == 503
    assert answer.json()["code"] == "database_unavailable"
    assert answer.headers["retry-after"] == "5"
