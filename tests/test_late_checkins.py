"""Late (back-dated or queued) check-ins: measured against the fixes on both sides of them and against the newest
one, never moving fence state back, and granting only what the member's newest place explains."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from geopy.distance import geodesic

from tests.conftest import BrandContext
from tests.coupon_helpers import scalar
from tests.scenes import PARIS, Scene, make_scene, offset
from tests.test_offer_eligibility import fence_at, offer, offered
from tests.test_offers_crud import campaign


async def at(scene: Scene, point: tuple[float, float], recorded_at: datetime, **extra: Any) -> dict[str, Any]:
    """A check-in recorded at an exact instant (sent now, whatever the order)."""
    scene.clock = recorded_at
    return await scene.ok(*point, after_s=0, **extra)


async def claim(scene: Scene, offer_id: str) -> Any:
    return await scene.brand.client.post(f"/v1/offers/{offer_id}/claims", headers=scene.headers)


async def store_with_offer(brand: BrandContext) -> tuple[Scene, dict[str, Any]]:
    """The brand's defaults (a 60-minute eligibility window, 300 km/h), a fence at the store, one offer."""
    scene = await make_scene(brand)
    await fence_at(scene)
    return scene, await offer(scene, (await campaign(brand))["id"])


async def test_a_back_dated_check_in_far_from_the_newest_fix_is_flagged_and_grants_nothing(
    brand: BrandContext,
) -> None:
    scene, served = await store_with_offer(brand)
    now = datetime.now(UTC)
    far_away = offset(*PARIS, 90, 2_500_000)
    assert (await at(scene, far_away, now))["flags"] == []
    # Sent 11 s later, dated 50 minutes back, at the store 2,500 km away: 3,000 km/h from the fix after it.
    forged = await at(scene, PARIS, now - timedelta(minutes=50))
    assert forged["flags"] == ["impossible_speed"]
    assert (forged["matches"], forged["offers"]) == ([], [])
    refused = await claim(scene, served["id"])
    assert (refused.status_code, refused.json()["code"]) == (403, "not_eligible")
    assert await scalar(brand, "SELECT count(*) FROM offer_eligibility WHERE brand_id = :b", b=brand.id) == 0
    assert await scalar(brand, "SELECT count(*) FROM fence_states WHERE brand_id = :b", b=brand.id) == 0


async def test_late_fixes_cannot_creep_away_from_the_newest_one(brand: BrandContext) -> None:
    """The 30 s floor is granted per pair: each late fix passes against the one after it, not against the newest."""
    scene, served = await store_with_offer(brand)
    now = datetime.now(UTC)
    newest = offset(*PARIS, 90, 4_800)
    step = offset(*PARIS, 90, 2_400)
    assert geodesic(newest[::-1], step[::-1]).meters / 30 * 3.6 < 300  # each step alone is under the limit
    assert geodesic(newest[::-1], PARIS[::-1]).meters / 30 * 3.6 > 300  # both together are not
    assert (await at(scene, newest, now))["flags"] == []
    assert (await at(scene, step, now - timedelta(seconds=1)))["flags"] == []
    crept = await at(scene, PARIS, now - timedelta(seconds=2))
    assert crept["flags"] == ["impossible_speed"]
    assert crept["offers"] == []
    assert (await claim(scene, served["id"])).status_code == 403


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
async def test_an_honest_offline_queue_is_rewarded_once_whatever_the_order(
    brand: BrandContext, order: tuple[int, ...]
) -> None:
    """In the store, still in it 50 m on, then out on the street 400 m away, two minutes apart each; the phone
    uploads the three together, in any order."""
    scene, served = await store_with_offer(brand)
    now = datetime.now(UTC)
    fixes = [
        (PARIS, now - timedelta(minutes=6)),
        (offset(*PARIS, 0, 50), now - timedelta(minutes=4)),
        (offset(*PARIS, 0, 400), now - timedelta(minutes=2)),
    ]
    answers = {n: await at(scene, *fixes[n]) for n in order}
    assert all(a["flags"] == [] for a in answers.values())
    assert [a["matches"] != [] for _, a in sorted(answers.items())] == [True, True, False]
    entered = [n for n, a in answers.items() if any(m["event"] == "enter" for m in a["matches"])]
    assert len(entered) == 1, answers  # one visit, entered once
    assert all(m["event"] in ("enter", None) for a in answers.values() for m in a["matches"])  # no dwell
    (granting,) = [a for a in answers.values() if a["offers"]]
    assert offered(granting) == {served["id"]}
    # The window runs from when the fix was taken, not from when it arrived.
    window_end = fixes[entered[0]][1] + timedelta(minutes=60)
    assert datetime.fromisoformat(granting["offers"][0]["eligible_until"]) == window_end
    assert (await claim(scene, served["id"])).status_code == 201

    # The newest fix, on the street, stands: the member is outside, and coming back is a new visit.
    back = await at(scene, PARIS, now)
    assert [m["event"] for m in back["matches"]] == ["enter"]


async def test_a_late_fix_inside_a_known_visit_fires_nothing_and_exits_nothing(brand: BrandContext) -> None:
    scene, _ = await store_with_offer(brand)
    now = datetime.now(UTC)
    street = offset(*PARIS, 0, 400)
    assert [m["event"] for m in (await at(scene, PARIS, now - timedelta(minutes=10)))["matches"]] == ["enter"]
    left = await at(scene, street, now - timedelta(minutes=2))
    assert len(left["exits"]) == 1
    # Inside, between the enter and the exit already recorded: part of that visit.
    inside = await at(scene, PARIS, now - timedelta(minutes=6))
    assert ([m["event"] for m in inside["matches"]], inside["offers"]) == ([None], [])
    # Outside, before the exit: no second exit, and the state is untouched.
    outside = await at(scene, street, now - timedelta(minutes=4))
    assert outside["exits"] == []
    state = await scalar(
        brand,
        "SELECT last_recorded_at FROM fence_states WHERE brand_id = :b AND NOT inside",
        b=brand.id,
    )
    assert state == now - timedelta(minutes=2)
