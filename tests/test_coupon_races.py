"""Limits and single redemption are exact under races: each contender on its own pooled connection, all
released together, every transaction committed (a shared rolled-back transaction would hide the race). Claims and
redemptions race through their request functions, the one statement the API sends for each, in autocommit."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from solomo.auth.principal import Principal, Role
from solomo.auth.secrets import hash_secret
from solomo.coupons.codes import new_coupon_code, normalize
from solomo.coupons.throttle import THROTTLE_PARAMS, CodeGuard
from solomo.coupons.till import TillService
from solomo.db.engine import make_engine
from solomo.db.pool import asyncpg_dsn
from solomo.errors import ApiError
from tests.conftest import BrandContext
from tests.coupon_helpers import Shop, open_shop, scalar

CONNECTIONS = 40


@pytest.fixture
async def race_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=CONNECTIONS)
    yield engine
    await engine.dispose()


@pytest.fixture
def pool(race_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(race_engine, expire_on_commit=False)


@pytest.fixture
async def statements(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    connections = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=CONNECTIONS, max_size=CONNECTIONS)
    yield connections
    await connections.close()


async def race_statements(statements: asyncpg.Pool, contenders: list[tuple[str, tuple[Any, ...]]]) -> Counter[str]:
    """Run every (statement, arguments) on its own connection in autocommit, all at once; count the answers'
    statuses ("ok" for a claim or redemption made)."""
    start = asyncio.Event()

    async def one(statement: str, args: tuple[Any, ...]) -> str:
        async with statements.acquire() as connection:
            await start.wait()
            status: str = json.loads(await connection.fetchval(statement, *args))["status"]
            return "ok" if status in ("claimed", "redeemed") else status

    tasks = [asyncio.create_task(one(statement, args)) for statement, args in contenders]
    await asyncio.sleep(0.05)
    start.set()
    return Counter(await asyncio.gather(*tasks))


async def race(
    pool: async_sessionmaker[AsyncSession], contenders: list[Callable[[AsyncSession], Awaitable[Any]]]
) -> Counter[str]:
    """Run every contender in its own committed transaction, all at once; count outcomes by problem code."""
    start = asyncio.Event()

    async def one(work: Callable[[AsyncSession], Awaitable[Any]]) -> str:
        async with pool() as session:
            await start.wait()
            try:
                await work(session)
            except ApiError as refused:
                await session.rollback()
                return refused.code
            await session.commit()
            return "ok"

    tasks = [asyncio.create_task(one(work)) for work in contenders]
    await asyncio.sleep(0.05)
    start.set()
    return Counter(await asyncio.gather(*tasks))


async def eligible_members(brand: BrandContext, offer_id: str, store_id: str, count: int) -> list[uuid.UUID]:
    """Members with marketing consent and a live eligibility for the offer, made in bulk."""
    async with brand.sessions() as session, session.begin():
        ids = list(
            await session.scalars(
                text(
                    "INSERT INTO members (brand_id, external_id, consent_marketing, consent_marketing_at)"
                    " SELECT :b, 'racer-' || n, true, now() FROM generate_series(1, :n) AS n RETURNING id"
                ),
                {"b": brand.id, "n": count},
            )
        )
        await session.execute(
            text(
                "INSERT INTO offer_eligibility (brand_id, member_id, offer_id, store_id, checkin_id, granted_at,"
                " eligible_until) SELECT :b, m, :o, :s, gen_random_uuid(), now(), now() + interval '1 hour'"
                " FROM unnest(CAST(:ids AS uuid[])) AS m"
            ),
            {"b": brand.id, "o": offer_id, "s": store_id, "ids": ids},
        )
    return ids


CLAIM = "SELECT solomo_claim_request($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
REDEEM = "SELECT solomo_redeem_request($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
#: Budgets far out of the way: the races are about the offer's limits.
BURST, RATE = 1_000_000, 1_000_000


def claim_by(
    brand: BrandContext, member: uuid.UUID, offer_id: str, share_code: str | None = None
) -> tuple[str, tuple[Any, ...]]:
    version = 0  # a new member's token version (erasure and merge move it)
    args = (brand.id, member, version, BURST, RATE, None, None, uuid.UUID(offer_id), share_code, new_coupon_code())
    return CLAIM, args


async def redeem_by(brand: BrandContext, code: str, store_id: str) -> tuple[str, tuple[Any, ...]]:
    key = await brand.key("admin")
    key_id = await scalar(brand, "SELECT id FROM api_keys WHERE secret_hash = :h", h=hash_secret(key))
    drain, last_allowed = THROTTLE_PARAMS["drain"], THROTTLE_PARAMS["last_allowed"]
    args = (brand.id, key_id, hash_secret(key), BURST, RATE, None, None, drain, last_allowed, normalize(code), False)
    return REDEEM, (*args, uuid.UUID(store_id), None)


async def share_code(shop: Shop) -> str:
    """The shop member's share code for its (shareable) offer. A grant is claimed once, so the races on a
    member's limits claim through a share code, which needs no grant and is held to the same limits."""
    made = await shop.brand.client.post(f"/v1/offers/{shop.offer['id']}/shares", headers=shop.scene.headers)
    assert made.status_code == 201, made.text
    code: str = made.json()["code"]
    return code


async def test_two_hundred_claims_on_fifty_coupons(brand: BrandContext, statements: asyncpg.Pool) -> None:
    shop = await open_shop(brand, eligible=False, limits={"total": 50})
    members = await eligible_members(brand, shop.offer["id"], shop.scene.store["id"], 200)
    outcomes = await race_statements(statements, [claim_by(brand, m, shop.offer["id"]) for m in members])
    assert outcomes == Counter({"ok": 50, "offer_exhausted": 150})
    offer = shop.offer["id"]
    assert await scalar(brand, "SELECT count(*) FROM coupons WHERE offer_id = :o", o=offer) == 50
    assert await scalar(brand, "SELECT sum(used) FROM offer_capacity WHERE offer_id = :o", o=offer) == 50
    assert await scalar(brand, "SELECT count(DISTINCT member_id) FROM coupons WHERE offer_id = :o", o=offer) == 50
    # Refused claims left no counter behind: their transactions rolled back whole.
    assert await scalar(brand, "SELECT count(*) FROM member_offer_claims WHERE offer_id = :o", o=offer) == 50


async def test_ten_claims_on_one_grant(brand: BrandContext, statements: asyncpg.Pool) -> None:
    shop = await open_shop(brand, eligible=False)  # no limits: the grant is all that bounds them
    (member,) = await eligible_members(brand, shop.offer["id"], shop.scene.store["id"], 1)
    outcomes = await race_statements(statements, [claim_by(brand, member, shop.offer["id"]) for _ in range(10)])
    assert outcomes == Counter({"ok": 1, "not_eligible": 9})
    assert await scalar(brand, "SELECT count(*) FROM coupons WHERE member_id = :m", m=member) == 1


async def test_one_members_ten_claims_on_a_limit_of_one(brand: BrandContext, statements: asyncpg.Pool) -> None:
    shop = await open_shop(brand, eligible=False, shareable=True, limits={"per_member": 1})
    (member,) = await eligible_members(brand, shop.offer["id"], shop.scene.store["id"], 1)
    code = await share_code(shop)
    outcomes = await race_statements(statements, [claim_by(brand, member, shop.offer["id"], code) for _ in range(10)])
    assert outcomes == Counter({"ok": 1, "member_limit": 9})
    assert await scalar(brand, "SELECT count(*) FROM coupons WHERE member_id = :m", m=member) == 1


async def test_one_members_claims_on_a_daily_limit(brand: BrandContext, statements: asyncpg.Pool) -> None:
    shop = await open_shop(brand, eligible=False, shareable=True, limits={"per_member_per_day": 3, "total": 100})
    (member,) = await eligible_members(brand, shop.offer["id"], shop.scene.store["id"], 1)
    code = await share_code(shop)
    outcomes = await race_statements(statements, [claim_by(brand, member, shop.offer["id"], code) for _ in range(12)])
    assert outcomes == Counter({"ok": 3, "member_limit": 9})


async def test_twenty_tills_scan_one_code(
    brand: BrandContext, pool: async_sessionmaker[AsyncSession], statements: asyncpg.Pool
) -> None:
    shop = await open_shop(brand)
    coupon = await shop.claimed()
    key_id = await scalar(brand, "SELECT id FROM api_keys WHERE brand_id = :b LIMIT 1", b=brand.id)
    till = Principal(brand.id, Role.ADMIN, key_id=key_id)
    guard = CodeGuard()
    redeem = await redeem_by(brand, coupon["code"], shop.scene.store["id"])
    outcomes = await race_statements(statements, [redeem] * 20)
    assert outcomes == Counter({"ok": 1, "already_redeemed": 19})
    assert await scalar(brand, "SELECT count(*) FROM redemptions WHERE coupon_id = :c", c=coupon["id"]) == 1

    # Ten voids of that one redemption: one voids it, nine find it voided; the count moves once.
    redemption = await scalar(brand, "SELECT id FROM redemptions WHERE coupon_id = :c", c=coupon["id"])
    voids = await race(pool, [lambda s: TillService(s, till, guard).void(redemption, None) for _ in range(10)])
    assert voids == Counter({"ok": 1, "already_voided": 9})
    audit = await scalar(
        brand, "SELECT count(*) FILTER (WHERE action = 'void') FROM coupon_audit WHERE coupon_id = :c", c=coupon["id"]
    )
    assert audit == 1
    # Freed, it is redeemed once more, however many tills try.
    again = await race_statements(statements, [redeem] * 10)
    assert again == Counter({"ok": 1, "already_redeemed": 9})
    live = await scalar(
        brand, "SELECT count(*) FROM redemptions WHERE coupon_id = :c AND voided_at IS NULL", c=coupon["id"]
    )
    assert live == 1
