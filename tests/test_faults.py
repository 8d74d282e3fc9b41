"""Database faults as clients see them: a 2xx only after the commit, a 503 with Retry-After (never a 500) for a
lost, refused or terminated connection, lost races retried, and a pool that recovers by itself.

Faults are made for real: a trigger that fails the commit, backends terminated with ``pg_terminate_backend``
while a request waits on a row lock, and a trigger that raises a serialization failure a set number of times.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from litestar import get
from litestar.di import NamedDependency
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from solomo.config import Settings
from solomo.db.faults import database_fault
from tests.conftest import BrandContext, make_brand
from tests.coupon_helpers import open_shop, scalar
from tests.limited_app import limited_client, terminate, until_waiting_on_a_lock
from tests.scenes import PARIS, make_scene


@asynccontextmanager
async def failing_trigger(
    sessions: async_sessionmaker[AsyncSession],
    table: str,
    brand_id: uuid.UUID,
    *,
    deferred: bool,
    sqlstate: str,
    fail_times: int = 1_000,
) -> AsyncIterator[str]:
    """A trigger on ``table`` raising ``sqlstate`` for the brand's first ``fail_times`` rows; deferred ones raise
    at COMMIT. Yields the name of a sequence it advances on each firing (nextval survives the rollback), so a
    test can count the attempts."""
    name = f"test_fail_{uuid.uuid4().hex[:12]}"
    kind = "CONSTRAINT TRIGGER" if deferred else "TRIGGER"
    timing = "DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    statements = [
        f"CREATE SEQUENCE {name}_seq",
        f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.brand_id = '{brand_id}'::uuid AND nextval('{name}_seq') <= {fail_times} THEN
                RAISE EXCEPTION 'failed by the test' USING ERRCODE = '{sqlstate}';
              END IF;
              RETURN NULL;
            END $$""",
        f"CREATE {kind} {name} AFTER INSERT ON {table} {timing} FOR EACH ROW EXECUTE FUNCTION {name}()",
    ]
    async with sessions() as session, session.begin():
        for statement in statements:
            await session.execute(text(statement))
    try:
        yield f"{name}_seq"
    finally:
        async with sessions() as session, session.begin():
            await session.execute(text(f"DROP TRIGGER {name} ON {table}"))
            await session.execute(text(f"DROP FUNCTION {name}()"))
            await session.execute(text(f"DROP SEQUENCE {name}_seq"))


def _checkin_body() -> dict[str, Any]:
    return {
        "location": {"type": "Point", "coordinates": list(PARIS)},
        "accuracy_m": 5,
        "recorded_at": datetime.now(UTC).isoformat(),
    }


async def test_a_write_whose_commit_fails_is_a_503_and_nothing_is_kept(
    brand: BrandContext, sessions: async_sessionmaker[AsyncSession]
) -> None:
    scene = await make_scene(brand)
    headers = scene.headers | {"Idempotency-Key": "commit-fails-1"}
    body = _checkin_body()
    async with failing_trigger(sessions, "idempotency_keys", brand.id, deferred=True, sqlstate="P0001"):
        failed = await brand.client.post("/v1/checkins", json=body, headers=headers)
    assert failed.status_code == 503, failed.text
    assert failed.json()["code"] == "commit_failed"
    assert int(failed.headers["retry-after"]) >= 1
    member = scene.member["id"]
    assert await scalar(brand, "SELECT count(*) FROM checkins WHERE member_id = :m", m=member) == 0
    assert await scalar(brand, "SELECT count(*) FROM idempotency_keys WHERE brand_id = :b", b=brand.id) == 0
    # The same key is free: the retry does the work (not a replay of an answer that was never kept).
    retried = await brand.client.post("/v1/checkins", json=body, headers=headers)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert await scalar(brand, "SELECT count(*) FROM checkins WHERE member_id = :m", m=member) == 1


async def test_a_deadlock_is_retried_in_a_fresh_transaction(
    brand: BrandContext, sessions: async_sessionmaker[AsyncSession]
) -> None:
    deadlocks = failing_trigger(sessions, "stores", brand.id, deferred=False, sqlstate="40P01", fail_times=2)
    async with deadlocks as attempts:
        created = await brand.client.post("/v1/stores", json=_store(), headers=brand.admin)
        used = await scalar(brand, f"SELECT last_value FROM {attempts}")
    assert created.status_code == 201, created.text
    assert used == 3  # two deadlocked (rolled back), the third passed: three attempts in one request
    assert await scalar(brand, "SELECT count(*) FROM stores WHERE brand_id = :b", b=brand.id) == 1


async def test_a_conflict_that_keeps_failing_is_a_503_after_a_bounded_number_of_attempts(
    brand: BrandContext, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with failing_trigger(sessions, "stores", brand.id, deferred=False, sqlstate="40001") as attempts:
        refused = await brand.client.post("/v1/stores", json=_store(), headers=brand.admin)
        tries = await scalar(brand, f"SELECT last_value FROM {attempts}")
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "database_conflict"
    assert refused.headers["retry-after"] == "1"
    assert tries == 3
    assert await scalar(brand, "SELECT count(*) FROM stores WHERE brand_id = :b", b=brand.id) == 0


def _store() -> dict[str, Any]:
    return {"name": "Store", "timezone": "Europe/Paris", "location": {"type": "Point", "coordinates": list(PARIS)}}


async def test_a_backend_killed_mid_redemption_is_a_503_and_the_next_redemption_works(
    settings: Settings, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with limited_client(settings, database_url, db_lock_timeout_ms=10_000) as client:
        brand = await make_brand(client, sessions, "Killed brand")
        shop = await open_shop(brand)
        coupon = await shop.claimed()
        async with sessions() as holder:
            await holder.execute(text("SELECT 1 FROM coupons WHERE id = :id FOR UPDATE"), {"id": coupon["id"]})
            redeeming = asyncio.ensure_future(shop.redeem(coupon["code"]))
            await terminate(sessions, await until_waiting_on_a_lock(sessions, "%solomo_redeem_request%"))
            killed = await asyncio.wait_for(redeeming, 10)
            await holder.rollback()
        assert killed.status_code == 503, killed.text
        assert killed.json()["code"] == "database_unavailable"
        assert int(killed.headers["retry-after"]) >= 1
        assert (await shop.redeem(coupon["code"])).status_code == 201


async def test_the_pool_recovers_when_every_connection_was_terminated(
    settings: Settings, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    @get("/test/backend", exclude_from_auth=True)
    async def backend(db_session: NamedDependency[AsyncSession]) -> int:
        # Long enough that three at once hold three connections.
        return int(await db_session.scalar(text("SELECT pg_backend_pid() FROM pg_sleep(0.2)")) or 0)

    async with limited_client(settings, database_url, pool_size=3) as client:
        client.app.register(backend)
        brand = await make_brand(client, sessions, "Restarted brand")
        pooled = [a.json() for a in await asyncio.gather(*(client.get("/test/backend") for _ in range(3)))]
        assert len(set(pooled)) == 3, pooled
        await terminate(sessions, pooled)  # what a database restart does to the pool
        answers = [await client.get("/v1/stores", headers=brand.admin) for _ in range(3)]
    statuses = [a.status_code for a in answers]
    # At most the request that found the first dead connection fails, as a 503; the pool then starts afresh.
    assert statuses in ([200, 200, 200], [503, 200, 200]), [a.text for a in answers]
    if statuses[0] == 503:
        assert answers[0].json()["code"] == "database_unavailable"
        assert "retry-after" in answers[0].headers


async def test_a_server_that_refuses_connections_is_a_503_for_api_and_readiness(settings: Settings) -> None:
    refusing = "postgresql+asyncpg://postgres@127.0.0.1:1/solomo"
    async with limited_client(settings, refusing) as client:
        api = await client.get("/v1/brand", headers={"Authorization": "Bearer sk_anything"})
        ready = await client.get("/health/ready")
    for answer in (api, ready):
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "database_unavailable"
        assert int(answer.headers["retry-after"]) >= 1


_LOST: dict[str, Callable[[], Exception]] = {
    "starting_up": lambda: asyncpg.CannotConnectNowError("the database system is starting up"),
    "shutting_down": lambda: asyncpg.CannotConnectNowError("the database system is shutting down"),
    "admin_shutdown": lambda: asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    "closed": lambda: asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    "bad_state": lambda: asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation"),
    "reset": lambda: ConnectionResetError(104, "Connection reset by peer"),
}


@pytest.mark.parametrize("kind", sorted(_LOST))
@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "wrapped"])
async def test_every_lost_or_refused_connection_is_a_503_with_retry_after(
    settings: Settings, database_url: str, kind: str, wrapped: bool
) -> None:
    error = _LOST[kind]()
    raised: Exception = sa_exc.DBAPIError("SELECT 1", None, error) if wrapped else error

    @get("/test/fault", exclude_from_auth=True, sync_to_thread=False)
    def fault() -> None:
        raise raised

    assert database_fault(raised) is not None
    async with limited_client(settings, database_url) as client:
        client.app.register(fault)
        answer = await client.get("/test/fault")
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "database_unavailable"
    assert answer.headers["retry-after"] == "5"


async def test_opposite_referral_patches_sent_at_once_never_answer_5xx(
    settings: Settings, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with limited_client(settings, database_url) as client:
        brand = await make_brand(client, sessions, "Referral brand")
        pairs = [(await brand.member(), await brand.member()) for _ in range(10)]

        def link(member: dict[str, Any], referrer: dict[str, Any]) -> Any:
            url = f"/v1/members/{member['id']}"
            return client.patch(url, json={"referred_by": referrer["id"]}, headers=brand.admin)

        answers = await asyncio.gather(*(link(x, y) for a, b in pairs for x, y in ((a, b), (b, a))))
    for first, second in zip(answers[::2], answers[1::2], strict=True):
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [200, 422], [first.text, second.text]  # one link stands, the other would be a cycle
