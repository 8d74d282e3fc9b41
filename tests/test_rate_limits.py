"""Per-key and per-member request budgets: 429 with Retry-After and the RateLimit headers beyond them, for that
caller only, charged in PostgreSQL (every worker shares them) and drained with time."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from litestar import Litestar, get
from litestar.di import NamedDependency
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from solomo.config import Settings
from solomo.ops.budgets import Budget
from tests.conftest import KEY_BURST, KEY_RATE, MEMBER_BURST, BrandContext, make_brand
from tests.limited_app import limited_client


async def _age_budgets(brand: BrandContext, seconds: int) -> None:
    """Let the brand's budgets drain as if ``seconds`` had passed."""
    async with brand.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE request_budgets SET at = at - make_interval(secs => :s) WHERE brand_id = :b"),
            {"s": seconds, "b": brand.id},
        )


async def test_a_key_beyond_its_budget_is_answered_429_and_others_are_not(
    tight: AsyncTestClient[Litestar], brand: BrandContext, other_brand: BrandContext
) -> None:
    key = brand.bearer(await brand.key("admin"))
    for left in range(KEY_BURST - 1, -1, -1):
        answer = await tight.get("/v1/brand", headers=key)
        assert answer.status_code == 200, answer.text
        assert answer.headers["ratelimit-policy"] == f'"key";q={KEY_BURST};w={KEY_BURST // KEY_RATE}'
        assert answer.headers["ratelimit"].startswith(f'"key";r={left};t=')

    refused = await tight.get("/v1/brand", headers=key)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit"] == f'"key";r=0;t={refused.headers["retry-after"]}'
    assert refused.headers["ratelimit-policy"] == f'"key";q={KEY_BURST};w={KEY_BURST // KEY_RATE}'
    assert "x-request-id" in refused.headers

    # Another key of the same brand, and another brand's key, have budgets of their own.
    assert (await tight.get("/v1/brand", headers=brand.bearer(await brand.key("admin")))).status_code == 200
    assert (await tight.get("/v1/brand", headers=other_brand.bearer(await other_brand.key("admin")))).status_code == 200

    # The level drains: a second later one more request fits, and only one.
    await _age_budgets(brand, 1)
    assert (await tight.get("/v1/brand", headers=key)).status_code == 200
    assert (await tight.get("/v1/brand", headers=key)).status_code == 429


async def test_refused_requests_do_not_count_and_failed_ones_do(
    tight: AsyncTestClient[Litestar], brand: BrandContext
) -> None:
    key = brand.bearer(await brand.key("admin"))
    # A 404 rolls the request's transaction back; the charge was committed before it and stays.
    for _ in range(KEY_BURST):
        assert (await tight.get(f"/v1/stores/{uuid.uuid4()}", headers=key)).status_code == 404
    for _ in range(5):
        assert (await tight.get("/v1/brand", headers=key)).status_code == 429
    async with brand.sessions() as session:
        level = await session.scalar(
            text("SELECT level FROM request_budgets WHERE brand_id = :b AND subject LIKE 'key:%'"), {"b": brand.id}
        )
    assert level is not None
    assert level <= KEY_BURST
    # Had the refusals counted, the bucket would still be over the brim after draining KEY_BURST requests' worth.
    await _age_budgets(brand, KEY_BURST // KEY_RATE)
    assert (await tight.get("/v1/brand", headers=key)).status_code == 200


async def test_a_member_token_has_a_budget_of_its_own(tight: AsyncTestClient[Litestar], brand: BrandContext) -> None:
    first, second = (await brand.member())["id"], (await brand.member())["id"]
    token = brand.bearer(await brand.member_token(first))
    for _ in range(MEMBER_BURST):
        answer = await tight.get("/v1/members/me", headers=token)
        assert answer.status_code == 200, answer.text
        assert answer.headers["ratelimit-policy"].startswith('"member";')
    refused = await tight.get("/v1/members/me", headers=token)
    assert refused.status_code == 429
    assert refused.headers["ratelimit"].startswith('"member";r=0;')
    assert (
        await tight.get("/v1/members/me", headers=brand.bearer(await brand.member_token(second)))
    ).status_code == 200
    # Erasure takes the member's budget with it; the revoked token is refused as before, and charges nothing.
    assert (await brand.client.delete(f"/v1/members/{first}", headers=brand.admin)).status_code == 204
    assert (await tight.get("/v1/members/me", headers=token)).status_code == 401
    async with brand.sessions() as session:
        subjects = await session.scalars(
            text("SELECT subject FROM request_budgets WHERE brand_id = :b"), {"b": brand.id}
        )
        assert f"member:{first}" not in set(subjects)


def test_a_budget_needs_a_burst_and_a_rate() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Budget("key", 0, 10)
    with pytest.raises(ValueError, match="at least 1"):
        Budget("member", 10, 0)


async def test_a_charge_that_waited_behind_a_later_one_never_sees_time_run_backwards(brand: BrandContext) -> None:
    """Charges queue on the budget row's lock. One whose transaction began before the last writer's charge must
    drain by the elapsed time it reads when it runs, never by a negative one (which, times a high rate, would add a
    whole burst and refuse a caller far inside its budget)."""
    charge = text("SELECT charged FROM solomo_charge_budget(:brand, 'key:clock', :burst, :rate, false)")
    params = {"brand": brand.id, "rate": 1_000_000, "burst": 5}
    async with brand.sessions() as early, brand.sessions() as later:
        await early.execute(text("SELECT 1"))  # its transaction, and so its now(), begins here
        await asyncio.sleep(0.2)
        async with later.begin():
            assert (await later.execute(charge, params)).scalar_one() == 1
        assert (await early.execute(charge, params)).scalar_one() == 1
        await early.commit()


async def test_the_charge_commits_by_itself_before_the_handlers_transaction(
    settings: Settings, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Every request of one key charges the same row: its lock must last the charge's statement only. Inside the
    handler, the request's transaction holds no lock on request_budgets and began after the charge."""

    @get("/test/budget-locks")
    async def budget_locks(db_session: NamedDependency[AsyncSession]) -> list[int]:
        row = (
            await db_session.execute(
                text(
                    "SELECT count(*) FILTER (WHERE l.relation = 'request_budgets'::regclass AND l.mode <> 'AccessShareLock'),"
                    " count(*) FILTER (WHERE b.at >= a.xact_start)"
                    " FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid"
                    " LEFT JOIN request_budgets b ON b.subject LIKE 'key:%' AND b.at >= now() - interval '1 minute'"
                    " WHERE a.pid = pg_backend_pid()"
                )
            )
        ).one()
        return [int(row[0]), int(row[1])]

    async with limited_client(settings, database_url) as client:
        client.app.register(budget_locks)
        brand = await make_brand(client, sessions, "Budget lock brand")
        answer = await client.get("/test/budget-locks", headers=brand.admin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["ratelimit"].startswith('"key";r=')
    assert answer.json() == [0, 0]  # no lock held, and no charge made inside this transaction
