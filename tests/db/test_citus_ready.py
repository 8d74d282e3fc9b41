"""The schema can be distributed by brand as ``solomo/db/citus/distribute.sql`` says (solomo/db/citus/check.py), and
the check catches each kind of mistake: every schema change below is made in a transaction that is rolled back."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from solomo.db.citus.check import Plan, problems


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        await connection.begin()
        # A stuck lock must fail the test, not hang it: the DDL below takes locks other tests' rows may hold.
        await connection.execute(text("SET LOCAL lock_timeout = '5s'"))
        yield connection
        await connection.rollback()


async def test_the_migrated_schema_distributes_as_planned(conn: AsyncConnection) -> None:
    assert await problems(conn, Plan.load()) == []


def test_the_plan_names_the_tables_and_hot_functions_it_must() -> None:
    plan = Plan.load()
    assert plan.reference == ["brands", "api_key_routes"]
    assert plan.local == ["alembic_version"]
    assert plan.distributed[0] == ("members", "brand_id", "none")
    hot = {signature.split("(")[0] for signature, _, _ in plan.functions}
    assert {"solomo_checkin_request", "solomo_claim_request", "solomo_redeem_request", "solomo_webhook_enqueue"} <= hot
    assert {argument for _, argument, _ in plan.functions} == {"p_brand"}


async def test_a_table_in_no_list_is_named(conn: AsyncConnection) -> None:
    await conn.execute(text("CREATE TABLE loyalty_points (brand_id uuid NOT NULL, member_id uuid NOT NULL)"))
    assert await problems(conn, Plan.load()) == [
        "table loyalty_points is in no list of distribute.sql (reference, distributed or local)"
    ]


async def test_a_unique_index_without_the_brand_is_named(conn: AsyncConnection) -> None:
    # On the id, not the code: codes may repeat across brands (tests/db/test_brand_keys.py makes one that does).
    await conn.execute(text("CREATE UNIQUE INDEX uq_coupons_id_anywhere ON coupons (id)"))
    assert await problems(conn, Plan.load()) == [
        "uq_coupons_id_anywhere on distributed table coupons is unique on (id) without brand_id:"
        " Citus can only enforce uniqueness within a shard"
    ]


async def test_a_foreign_key_that_does_not_join_the_brand_is_named(conn: AsyncConnection) -> None:
    await conn.execute(text("CREATE UNIQUE INDEX uq_stores_id ON stores (id)"))
    await conn.execute(
        text("ALTER TABLE coupons ADD CONSTRAINT fk_coupons_store FOREIGN KEY (store_id) REFERENCES stores (id)")
    )
    found = await problems(conn, Plan.load())
    assert "fk_coupons_store: coupons (store_id) → stores (id) does not join brand_id to brand_id" in found
    assert any(p.startswith("uq_stores_id on distributed table stores") for p in found)
    assert len(found) == 2


async def test_a_reference_table_pointing_at_a_distributed_one_is_named(conn: AsyncConnection) -> None:
    await conn.execute(
        text(
            "ALTER TABLE api_key_routes ADD CONSTRAINT fk_routes_key"
            " FOREIGN KEY (brand_id, key_id) REFERENCES api_keys (brand_id, id)"
        )
    )
    assert await problems(conn, Plan.load()) == [
        "fk_routes_key: reference table api_key_routes points at api_keys, which is not a reference table",
        "fk_routes_key: distribute.sql distributes api_key_routes before its parent api_keys",
    ]


async def test_a_child_distributed_before_its_parent_is_named(conn: AsyncConnection) -> None:
    plan = Plan.load()
    tables = plan.distributed
    offers = next(i for i, (t, _, _) in enumerate(tables) if t == "offers")
    coupons = next(i for i, (t, _, _) in enumerate(tables) if t == "coupons")
    tables[offers], tables[coupons] = tables[coupons], tables[offers]
    found = await problems(conn, plan)
    assert "fk_coupons_brand_id_offer_id_offers: distribute.sql distributes coupons before its parent offers" in found


async def test_a_table_distributed_by_another_column_or_group_is_named(conn: AsyncConnection) -> None:
    plan = Plan.load()
    plan.distributed = [
        ("coupons", "member_id", t[2])
        if t[0] == "coupons"
        else ("stores", "brand_id", "none")
        if t[0] == "stores"
        else t
        for t in plan.distributed
    ]
    assert await problems(conn, plan) == [
        "stores is co-located with none, not members (one group, anchored on members)",
        "coupons is distributed by member_id, not brand_id",
    ]


async def test_a_function_that_writes_a_brand_s_rows_must_be_distributed(conn: AsyncConnection) -> None:
    await conn.execute(
        text(
            "CREATE FUNCTION solomo_forget_coupons(p_brand uuid) RETURNS void LANGUAGE sql"
            " AS 'DELETE FROM coupons WHERE brand_id = p_brand'"
        )
    )
    # Writing through another function counts too.
    await conn.execute(
        text(
            "CREATE FUNCTION solomo_forget_all(p_brand uuid) RETURNS void LANGUAGE sql"
            " AS 'SELECT solomo_forget_coupons(p_brand)'"
        )
    )
    assert sorted(await problems(conn, Plan.load())) == [
        "solomo_forget_all writes distributed tables and is not distributed (distribute.sql)",
        "solomo_forget_coupons writes distributed tables and is not distributed (distribute.sql)",
    ]


async def test_a_function_distributed_by_an_argument_other_than_the_brand_is_named(conn: AsyncConnection) -> None:
    plan = Plan.load()
    plan.functions = [
        (s, "p_code", c) if s.startswith("solomo_record_code_failure(") else (s, a, c) for s, a, c in plan.functions
    ]
    assert await problems(conn, plan) == [
        "solomo_record_code_failure(uuid,text,double precision) is distributed by p_code, which is not its first"
        " argument, a uuid (the brand)"
    ]


async def test_a_plan_naming_a_missing_table_or_function_says_so(conn: AsyncConnection) -> None:
    plan = dataclasses.replace(
        Plan.load(),
        reference=[*Plan.load().reference, "gone"],
        functions=[*Plan.load().functions, ("solomo_gone(uuid)", "p_brand", "members")],
    )
    found = await problems(conn, plan)
    assert found == [
        "distribute.sql names gone, which is not a table of the schema",
        "distribute.sql distributes solomo_gone(uuid), which does not exist",
    ]


@pytest.mark.parametrize("call", ["gen_random_uuid()", "random()", "clock_timestamp()"])
async def test_a_volatile_function_in_a_change_of_rows_is_named(conn: AsyncConnection, call: str) -> None:
    column = {"gen_random_uuid()": "checkin_id", "random()": "percent_off", "clock_timestamp()": "expires_at"}[call]
    await conn.execute(
        text(
            f"CREATE FUNCTION solomo_touch_coupons(p_brand uuid) RETURNS void LANGUAGE sql"
            f" AS 'UPDATE coupons SET {column} = {call} WHERE brand_id = p_brand'"
        )
    )
    plan = Plan.load()
    plan.functions.append(("solomo_touch_coupons(uuid)", "p_brand", "members"))
    assert await problems(conn, plan) == [
        f"solomo_touch_coupons: {call[:-2]}() in a change of rows"
        f" (UPDATE coupons SET {column} = {call} WHERE brand_id = p_brand …)"
    ]


async def test_a_statement_that_does_not_name_its_brand_is_named(conn: AsyncConnection) -> None:
    # offers is joined by id alone: on Citus this statement could not be sent to one shard.
    await conn.execute(
        text(
            "CREATE FUNCTION solomo_offer_coupons(p_brand uuid, p_offer uuid) RETURNS bigint LANGUAGE sql AS"
            " 'SELECT count(*) FROM coupons c JOIN offers o ON o.id = c.offer_id"
            " WHERE c.brand_id = p_brand AND o.id = p_offer'"
        )
    )
    # An INSERT whose brand_id is not the brand argument.
    await conn.execute(
        text(
            "CREATE FUNCTION solomo_journal(p_brand uuid, p_other uuid) RETURNS void LANGUAGE sql AS"
            " 'INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids)"
            " VALUES (p_other, ''checkin'', 1, now(), true, ''{}'')'"
        )
    )
    plan = Plan.load()
    plan.functions.append(("solomo_journal(uuid,uuid)", "p_brand", "members"))
    assert await problems(conn, plan) == [
        "solomo_journal: a statement reads or writes stats_pending (stats_pending) without naming its brand",
        "solomo_offer_coupons: a statement reads or writes offers (o) without naming its brand",
    ]


async def test_a_join_on_the_brand_to_a_table_that_names_it_is_enough(conn: AsyncConnection) -> None:
    await conn.execute(
        text(
            "CREATE FUNCTION solomo_offer_coupons(p_brand uuid, p_offer uuid) RETURNS bigint LANGUAGE sql AS"
            " 'SELECT count(*) FROM coupons c JOIN offers o ON o.brand_id = c.brand_id AND o.id = c.offer_id"
            " WHERE c.brand_id = p_brand AND o.id = p_offer'"
        )
    )
    # A CTE named like a table is the CTE, not the table.
    await conn.execute(
        text(
            "CREATE FUNCTION solomo_store_count(p_brand uuid) RETURNS bigint LANGUAGE sql AS"
            " 'WITH stores AS (SELECT id FROM stores WHERE brand_id = p_brand) SELECT count(*) FROM stores'"
        )
    )
    assert await problems(conn, Plan.load()) == []
