"""Nothing waits on the database for long: lock and statement timeouts, short pool waits, one connection per request.

Each test runs an app of its own with tight limits (``tests.limited_app``), so a held lock or a burst of
requests shows as a 503 or 429 in about a second instead of a stall.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from litestar import Litestar, get
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from solomo.config import Settings
from solomo.db.transactions import REPORT_QUERIES
from tests.conftest import make_brand
from tests.coupon_helpers import open_shop
from tests.limited_app import limited_client, until_waiting_on_a_lock
from tests.test_redemptions import _well_formed_unknown


async def _timed(answer: Any) -> tuple[Any, float]:
    started = time.monotonic()
    response = await answer
    return response, time.monotonic() - started


async def test_a_locked_coupon_answers_503_within_the_lock_timeout_and_nothing_else_waits(
    settings: Settings, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with limited_client(settings, database_url, db_lock_timeout_ms=400) as client:
        brand = await make_brand(client, sessions, "Locked brand")
        bystander = await make_brand(client, sessions, "Bystander brand")
        shop = await open_shop(brand)
        coupon = await shop.claimed()
        async with sessions() as holder:  # a till, or psql, holding the coupon's row
            await holder.execute(text("SELECT 1 FROM coupons WHERE id = :id FOR UPDATE"), {"id": coupon["id"]})
            redeeming = asyncio.ensure_future(_timed(shop.redeem(coupon["code"])))
            await until_waiting_on_a_lock(sessions, "%solomo_redeem_request%")
            ready, ready_s = await _timed(client.get("/health/ready"))
            stores, stores_s = await _timed(client.get("/v1/stores", headers=bystander.admin))
            redeemed, redeem_s = await asyncio.wait_for(redeeming, 10)
            await holder.rollback()

        assert (ready.status_code, stores.status_code) == (200, 200)
        # Far below the lock's hold (the whole test): nobody else queues behind it, even on a busy test machine.
        assert max(ready_s, stores_s) < 1.0, (ready_s, stores_s)
        assert redeemed.status_code == 503, redeemed.text
        assert redeemed.json()["code"] == "database_timeout"
        assert int(redeemed.headers["retry-after"]) >= 1
        assert 0.3 < redeem_s < 1.5, redeem_s
        # The lock gone, the same coupon redeems on the next try.
        assert (await shop.redeem(coupon["code"])).status_code == 201


async def test_statements_have_a_short_timeout_and_reports_a_longer_one(
    settings: Settings, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    @get("/test/statement-timeout", opt={REPORT_QUERIES: True}, exclude_from_auth=True)
    async def report_timeout(db_session: NamedDependency[AsyncSession]) -> str:
        return str(await db_session.scalar(text("SHOW statement_timeout")))

    @get("/test/hot-path-timeout", exclude_from_auth=True)
    async def hot_timeout(db_session: NamedDependency[AsyncSession]) -> str:
        return str(await db_session.scalar(text("SHOW statement_timeout")))

    async with limited_client(
        settings, database_url, db_statement_timeout_ms=1500, db_report_statement_timeout_ms=45_000
    ) as client:
        app: Litestar = client.app
        app.register(report_timeout)
        app.register(hot_timeout)
        assert (await client.get("/test/statement-timeout")).text == "45s"
        assert (await client.get("/test/hot-path-timeout")).text == "1500ms"
        # SET LOCAL: the report's connection went back to the pool with the short default.
        assert (await client.get("/test/hot-path-timeout")).text == "1500ms"


async def test_forty_parallel_unknown_codes_get_429s_fast_and_other_brands_are_served(
    settings: Settings, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Three connections in all (2 + 1 overflow): a request that took a second one would starve the rest.
    async with limited_client(settings, database_url, pool_size=2) as client:
        brand = await make_brand(client, sessions, "Guessing brand")
        bystander = await make_brand(client, sessions, "Bystander brand")
        store = await brand.store()
        guesses: list[Any] = []
        for n in range(20):
            guesses.append(client.get(f"/v1/coupons/{_well_formed_unknown(n)}", headers=brand.admin))
            body = {"code": _well_formed_unknown(100 + n), "store_id": store["id"]}
            guesses.append(client.post("/v1/redemptions", json=body, headers=brand.admin))
        started = time.monotonic()
        *answers, (served, served_s) = await asyncio.gather(
            *guesses, _timed(client.get("/v1/stores", headers=bystander.admin))
        )
        elapsed = time.monotonic() - started

    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) <= {404, 429}, [a.text for a in answers if a.status_code not in (404, 429)]
    assert statuses[429] >= 25, statuses
    assert elapsed < 1.0, elapsed
    assert served.status_code == 200
    assert served_s < 1.0, served_s
    throttled = next(a for a in answers if a.status_code == 429)
    assert throttled.json()["code"] == "too_many_failed_codes"
    assert int(throttled.headers["retry-after"]) >= 1


async def test_a_pool_wait_answers_503_after_the_pool_timeout(
    settings: Settings, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Both pools: the hot routes' statement pool and the engine's, each of one connection here."""

    @get("/test/hold", exclude_from_auth=True)
    async def hold(db_session: NamedDependency[AsyncSession]) -> str:
        return str(await db_session.scalar(text("SELECT 'held' FROM pg_sleep(1.5)")))

    limits = {
        "pool_size": 1,
        "statement_pool_size": 1,
        "db_pool_timeout_ms": 800,
        "db_lock_timeout_ms": 5000,
        "health_timeout_ms": 300,
    }
    async with limited_client(settings, database_url, **limits) as client:
        client.app.register(hold)
        brand = await make_brand(client, sessions, "Busy brand")
        shop = await open_shop(brand, limits={"grants": "every_visit"})
        coupon = await shop.claimed()
        await shop.revisit()
        other = await shop.claimed()
        async with sessions() as holder:
            # The statement pool's only connection waits on a locked row, as a stalled request would.
            await holder.execute(text("SELECT 1 FROM coupons WHERE id = :id FOR UPDATE"), {"id": coupon["id"]})
            redeeming = asyncio.ensure_future(shop.redeem(coupon["code"]))
            await until_waiting_on_a_lock(sessions, "%solomo_redeem_request%")
            busy, busy_s = await _timed(shop.redeem(other["code"]))
            # The engine's pool is another: its routes are served meanwhile.
            served = await client.get("/v1/stores", headers=brand.admin)
            await holder.rollback()
        assert (await asyncio.wait_for(redeeming, 10)).status_code == 201
        assert served.status_code == 200
        assert busy.status_code == 503, busy.text
        assert busy.json()["code"] == "database_busy"
        assert busy.headers["retry-after"] == "1"
        assert 0.7 < busy_s < 1.5, busy_s
        assert (await shop.redeem(other["code"])).status_code == 201

        # The engine's only connection held by a slow request: the next one waits the pool timeout, then 503.
        holding = asyncio.ensure_future(client.get("/test/hold"))
        await asyncio.sleep(0.3)
        busy, busy_s = await _timed(client.get("/v1/stores", headers=brand.admin))
        ready, ready_s = await _timed(client.get("/health/ready"))
        assert (await holding).status_code == 200
        assert busy.status_code == 503, busy.text
        assert busy.json()["code"] == "database_busy"
        assert 0.7 < busy_s < 1.5, busy_s
        # Readiness keeps its own, shorter budget.
        assert (ready.status_code, ready.json()["code"]) == (503, "database_timeout")
        assert ready_s < 0.6, ready_s
        assert (await client.get("/v1/stores", headers=brand.admin)).status_code == 200


async def test_a_statement_past_its_timeout_is_a_503_unless_the_route_runs_reports(
    settings: Settings, database_url: str
) -> None:
    @get("/test/slow", exclude_from_auth=True)
    async def slow(db_session: NamedDependency[AsyncSession]) -> str:
        return str(await db_session.scalar(text("SELECT 'done' FROM pg_sleep(0.5)")))

    @get("/test/slow-report", opt={REPORT_QUERIES: True}, exclude_from_auth=True)
    async def slow_report(db_session: NamedDependency[AsyncSession]) -> str:
        return str(await db_session.scalar(text("SELECT 'done' FROM pg_sleep(0.5)")))

    limits = {"db_statement_timeout_ms": 200, "db_report_statement_timeout_ms": 5_000}
    async with limited_client(settings, database_url, **limits) as client:
        client.app.register(slow)
        client.app.register(slow_report)
        cancelled, cancelled_s = await _timed(client.get("/test/slow"))
        report = await client.get("/test/slow-report")
    assert cancelled.status_code == 503, cancelled.text
    assert (cancelled.json()["code"], cancelled.headers["retry-after"]) == ("database_timeout", "1")
    assert cancelled_s < 0.45, cancelled_s
    assert (report.status_code, report.text) == (200, "done")


async def test_a_transaction_left_idle_is_ended_by_the_server_and_answered_503(
    settings: Settings, database_url: str
) -> None:
    @get("/test/idle", exclude_from_auth=True)
    async def idle(db_session: NamedDependency[AsyncSession]) -> str:
        await db_session.execute(text("SELECT 1"))
        await asyncio.sleep(0.6)  # a handler stuck on something else while its transaction stays open
        return str(await db_session.scalar(text("SELECT 'late'")))

    async with limited_client(settings, database_url, db_idle_in_transaction_timeout_ms=200) as client:
        client.app.register(idle)
        ended = await client.get("/test/idle")
        # The dead connection was dropped: the next request gets a live one.
        after = await client.get("/health/ready")
    assert ended.status_code == 503, ended.text
    assert ended.json()["code"] == "database_unavailable"
    assert "retry-after" in ended.headers
    assert after.status_code == 200, after.text
