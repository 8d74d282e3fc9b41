"""Test fixtures: a throwaway PostGIS cluster per session, migrated once, and the real app over it.

Isolation is by tenant: every test makes its own brand, and nothing in the API crosses brands, so
tests never see each other's rows and may commit (which races need) without truncating tables.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from solomo.app import create_app
from solomo.auth.schemas import ApiKeyCreate
from solomo.auth.service import ApiKeyService
from solomo.brands.service import BrandService
from solomo.config import Settings
from solomo.db.engine import make_engine
from solomo.db.migrate import upgrade
from tests.databases import TestDatabases

if TYPE_CHECKING:
    from tests.scenes import Scene

TEST_SIGNING_KEYS = {"test-1": "t" * 64, "test-0": "o" * 64}


@pytest.fixture(scope="session")
def databases() -> Iterator[TestDatabases]:
    """Databases on SOLOMO_TEST_DATABASE_URL's server if given, else on a throwaway cluster."""
    dbs = TestDatabases.start(os.environ.get("SOLOMO_TEST_DATABASE_URL"))
    try:
        yield dbs
    finally:
        dbs.close()


@pytest.fixture(scope="session")
def database_url(databases: TestDatabases) -> str:
    # Synchronous, so Alembic's asyncio.run happens before the tests' event loop exists.
    url = databases.create("solomo_test")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=None,
        local_dir=Path(tmp_path_factory.mktemp("solomo-local")),
        member_token_keys=TEST_SIGNING_KEYS,
        member_token_active_kid="test-1",
        pool_size=20,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
def app(settings: Settings, database_url: str) -> Litestar:
    return create_app(settings, database_url=database_url)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


#: The budgets of the ``tight`` app: a few requests at once, then one a second.
KEY_BURST, KEY_RATE = 3, 1
MEMBER_BURST, MEMBER_RATE = 2, 1


@pytest.fixture(scope="module")
async def tight(settings: Settings, database_url: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An app whose callers may send a few requests at once, then one a second (its own budgets)."""
    budgets = dataclasses.replace(
        settings,
        stats_fold_seconds=0,
        rate_limit_key_burst=KEY_BURST,
        rate_limit_key_per_second=KEY_RATE,
        rate_limit_member_burst=MEMBER_BURST,
        rate_limit_member_per_second=MEMBER_RATE,
    )
    async with AsyncTestClient(app=create_app(budgets, database_url=database_url)) as client:
        yield client


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url, pool_size=5)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@dataclass
class BrandContext:
    """A brand of the test's own, with its admin key, and helpers to call the API as its callers."""

    id: uuid.UUID
    admin_key: str
    client: AsyncTestClient[Litestar]
    sessions: async_sessionmaker[AsyncSession]
    keys: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def bearer(secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.bearer(self.admin_key)

    async def key(self, role: str, store_ids: list[uuid.UUID] | None = None, name: str = "test key") -> str:
        async with self.sessions() as session:
            created = await ApiKeyService(session, self.id).create(
                ApiKeyCreate(name=name, role=role, store_ids=store_ids or [])  # type: ignore[arg-type]
            )
            await session.commit()
        return created.secret

    async def member(self, external_id: str | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/members", json={"external_id": external_id or uuid.uuid4().hex}, headers=self.admin
        )
        assert response.status_code in (200, 201), response.text
        body: dict[str, Any] = response.json()
        return body

    async def store(self, lon: float = 2.3522, lat: float = 48.8566, **fields: Any) -> dict[str, Any]:
        body = {"name": "Store", "timezone": "Europe/Paris", "location": {"type": "Point", "coordinates": [lon, lat]}}
        response = await self.client.post("/v1/stores", json=body | fields, headers=self.admin)
        assert response.status_code == 201, response.text
        store: dict[str, Any] = response.json()
        return store

    async def member_token(self, member_id: str) -> str:
        response = await self.client.post(f"/v1/members/{member_id}/tokens", headers=self.admin)
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token


async def make_brand(
    client: AsyncTestClient[Litestar], sessions: async_sessionmaker[AsyncSession], name: str = "Test brand"
) -> BrandContext:
    async with sessions() as session:
        brand, key = await BrandService(session).create(name, timezone="Europe/Paris")
        await session.commit()
    return BrandContext(id=brand.id, admin_key=key.secret, client=client, sessions=sessions)


@pytest.fixture
async def brand(client: AsyncTestClient[Litestar], sessions: async_sessionmaker[AsyncSession]) -> BrandContext:
    return await make_brand(client, sessions, "Brand A")


@pytest.fixture
async def other_brand(client: AsyncTestClient[Litestar], sessions: async_sessionmaker[AsyncSession]) -> BrandContext:
    return await make_brand(client, sessions, "Brand B")


@pytest.fixture
async def scene(brand: BrandContext) -> Scene:
    """The brand with a consenting member, a store in Paris, and check-in helpers."""
    from tests.scenes import make_scene  # tests.scenes builds on BrandContext, defined above

    return await make_scene(brand)
