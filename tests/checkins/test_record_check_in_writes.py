"""What solomo_record_check_in writes to fence_states (solomo/checkins/sql/record_check_in.sql, version 6): no new
row version when nothing in the row changes, and last_recorded_at moving with every fix that stays inside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from tests.conftest import BrandContext
from tests.coupon_helpers import scalar
from tests.scenes import PARIS, Scene, make_scene
from tests.test_offer_eligibility import fence_at


async def at(scene: Scene, recorded_at: datetime) -> dict[str, Any]:
    scene.clock = recorded_at
    return await scene.ok(*PARIS, after_s=0)


async def state(brand: BrandContext, fence_id: str) -> tuple[str, bool, datetime]:
    """The row's xmin (the transaction that wrote its current version), inside and last_recorded_at."""
    async with brand.sessions() as session, session.begin():
        row = (
            await session.execute(
                text("SELECT xmin::text, inside, last_recorded_at FROM fence_states WHERE fence_id = :f"),
                {"f": fence_id},
            )
        ).one()
    return row[0], row[1], row[2]


async def test_a_fix_that_changes_nothing_writes_no_new_fence_state(brand: BrandContext) -> None:
    scene = await make_scene(brand)
    fence = await fence_at(scene, dwell=3600)
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    entered = await at(scene, t0)
    assert [m["event"] for m in entered["matches"]] == ["enter"]
    written, inside, last = await state(brand, fence["id"])
    assert (inside, last) == (True, t0)

    # The same instant again: not late (nothing newer), inside, no event, and every column as it was.
    again = await at(scene, t0)
    assert [m["event"] for m in again["matches"]] == [None]
    assert await state(brand, fence["id"]) == (written, True, t0)


async def test_staying_inside_moves_last_recorded_at(brand: BrandContext) -> None:
    """last_recorded_at is the newest fix that touched the state: the late-fix rules compare against it (a state a
    newer fix set is never moved back, even when that fix's location was purged) and the member export shows it,
    so a fix that stays inside still writes it."""
    scene = await make_scene(brand)
    fence = await fence_at(scene, dwell=3600)
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    await at(scene, t0)
    stayed = await at(scene, t0 + timedelta(minutes=1))
    assert [m["event"] for m in stayed["matches"]] == [None]
    _, inside, last = await state(brand, fence["id"])
    assert (inside, last) == (True, t0 + timedelta(minutes=1))
    assert await scalar(brand, "SELECT count(*) FROM fence_states WHERE fence_id = :f", f=fence["id"]) == 1
