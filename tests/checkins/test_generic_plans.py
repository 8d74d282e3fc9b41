"""The request functions run their statements with generic plans (solomo/checkins/sql/checkin_request.sql: the
plan cache would otherwise plan the check-in's statements afresh on every call), and the check-in's generic
plan still finds fences through the GiST index."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import asyncpg
from sqlalchemy import text

from solomo.db.pool import asyncpg_dsn
from tests.conftest import BrandContext
from tests.scenes import PARIS, make_scene

REQUEST_FUNCTIONS = ("solomo_checkin_request", "solomo_claim_request", "solomo_redeem_request")


async def test_the_request_functions_force_generic_plans(brand: BrandContext) -> None:
    async with brand.sessions() as session:
        rows = await session.execute(
            text("SELECT proname, proconfig FROM pg_proc WHERE proname = ANY(:names)"),
            {"names": list(REQUEST_FUNCTIONS)},
        )
        settings: dict[str, list[str]] = {row.proname: row.proconfig for row in rows}
    assert settings.keys() == set(REQUEST_FUNCTIONS)
    for name, config in settings.items():
        assert config == ["plan_cache_mode=force_generic_plan"], (name, config)


async def test_the_first_checkin_runs_the_generic_plan_through_the_fence_index(
    brand: BrandContext, database_url: str
) -> None:
    scene = await make_scene(brand)
    await scene.fence({"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 200})
    member_id = scene.member["id"]
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    plans: list[str] = []
    conn.add_log_listener(lambda _conn, message: plans.append(message.message))
    try:
        await conn.execute("LOAD 'auto_explain'")
        await conn.execute(
            "SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;"
            " SET client_min_messages = log"
        )
        version = await conn.fetchval("SELECT token_version FROM members WHERE id = $1", member_id)
        answer = await conn.fetchval(
            "SELECT solomo_checkin_request($1, $2, $3, 100, 10, NULL, NULL, $4, $5, 5, $6, false, 'test')::text",
            brand.id,
            member_id,
            version,
            *PARIS,
            datetime.now(UTC),
        )
    finally:
        await conn.close()
    assert '"status": "recorded"' in answer, answer
    assert '"event": "enter"' in answer, answer
    # The statement that matches fences (solomo_fences_at inlined into the check-in's big statement).
    matching = [plan for plan in plans if "ix_geofences_brand_geom" in plan]
    assert matching, "\n\n".join(plans)
    # A generic plan shows the function's variables as parameters ($1…); a custom plan, their values.
    for plan in matching:
        assert str(brand.id) not in plan, plan
        assert re.search(r"brand_id = \$\d+", plan), plan
