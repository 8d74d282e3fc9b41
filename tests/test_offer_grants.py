"""Grants: a check-in grants an offer once per member, offer and brand-local day (or on every visit when the offer
says so), and each grant is claimed once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import BrandContext
from tests.coupon_helpers import scalar
from tests.scenes import PARIS, Scene, make_scene, offset
from tests.test_offer_eligibility import fence_at, offer, offered
from tests.test_offers_crud import campaign

STREET = offset(*PARIS, 0, 1000)


async def last_local_midnight(brand: BrandContext) -> datetime:
    """Gives the brand a whole-hour time zone in which it is about 06:00 now, and answers the last local midnight:
    check-ins may be dated up to 24 h back, so visits can fall on both sides of it."""
    utc_hour = datetime.now(UTC).hour
    east = (6 - utc_hour + 12) % 24 - 12  # UTC+east, between -12 and +11
    zone = f"Etc/GMT{-east:+d}"  # the tz database's POSIX sign: Etc/GMT-6 is UTC+6
    answer = await brand.client.patch(
        "/v1/brand", json={"timezone": zone, "eligibility_window_min": 720}, headers=brand.admin
    )
    assert answer.status_code == 200, answer.text
    local = datetime.now(ZoneInfo(zone))
    assert 5 <= local.hour <= 7
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


async def enter_at(scene: Scene, recorded_at: datetime) -> dict[str, Any]:
    """Out on the street, then into the store's fence at ``recorded_at``."""
    scene.clock = recorded_at - timedelta(minutes=5)
    assert (await scene.ok(*STREET, after_s=0))["matches"] == []
    entered = await scene.ok(*PARIS, after_s=300)
    assert [m["event"] for m in entered["matches"]] == ["enter"]
    return entered


async def claim(scene: Scene, offer_id: str) -> Any:
    return await scene.brand.client.post(f"/v1/offers/{offer_id}/claims", headers=scene.headers)


async def coupons(brand: BrandContext, offer_id: str) -> int:
    count: int = await scalar(brand, "SELECT count(*) FROM coupons WHERE offer_id = :o", o=offer_id)
    return count


async def test_one_grant_per_brand_local_day_and_one_coupon_per_grant(brand: BrandContext) -> None:
    midnight = await last_local_midnight(brand)
    scene = await make_scene(brand)
    await fence_at(scene)
    daily = await offer(scene, (await campaign(brand))["id"])  # no per-member limits at all
    assert daily["limits"]["grants"] == "daily"

    first = await enter_at(scene, midnight - timedelta(minutes=50))
    assert offered(first) == {daily["id"]}
    assert (await claim(scene, daily["id"])).status_code == 201
    again = await claim(scene, daily["id"])  # the same grant, claimed twice
    assert (again.status_code, again.json()["code"]) == (403, "not_eligible")
    assert "already claimed" in again.json()["detail"]

    # Leaving and coming back twice the same brand-local day: no grant, no coupon.
    for minutes_before in (30, 15):
        revisit = await enter_at(scene, midnight - timedelta(minutes=minutes_before))
        assert revisit["offers"] == []
        refused = await claim(scene, daily["id"])
        assert (refused.status_code, refused.json()["code"]) == (403, "not_eligible")
    assert await coupons(brand, daily["id"]) == 1

    # Past the brand's midnight it is another day: granted again, one more coupon.
    next_day = await enter_at(scene, midnight + timedelta(minutes=10))
    assert offered(next_day) == {daily["id"]}
    assert (await claim(scene, daily["id"])).status_code == 201
    assert await coupons(brand, daily["id"]) == 2


async def test_a_second_visit_does_not_stretch_an_unclaimed_grant(brand: BrandContext) -> None:
    scene = await make_scene(brand)
    await fence_at(scene)
    daily = await offer(scene, (await campaign(brand))["id"])
    now = datetime.now(UTC)
    first = await enter_at(scene, now - timedelta(minutes=50))
    until = first["offers"][0]["eligible_until"]
    assert (await enter_at(scene, now - timedelta(minutes=20)))["offers"] == []
    stored = await scalar(brand, "SELECT eligible_until FROM offer_eligibility WHERE offer_id = :o", o=daily["id"])
    assert stored == datetime.fromisoformat(until)
    assert (await claim(scene, daily["id"])).status_code == 201  # still the first grant, claimable once


async def test_an_offer_that_grants_on_every_visit(brand: BrandContext) -> None:
    scene = await make_scene(brand)
    await fence_at(scene)
    stamps = await offer(scene, (await campaign(brand))["id"], limits={"grants": "every_visit", "per_member": 2})
    assert stamps["limits"]["grants"] == "every_visit"
    now = datetime.now(UTC)
    for minutes_before in (50, 30):
        visit = await enter_at(scene, now - timedelta(minutes=minutes_before))
        assert offered(visit) == {stamps["id"]}
        assert (await claim(scene, stamps["id"])).status_code == 201
        spent = await claim(scene, stamps["id"])
        assert (spent.status_code, spent.json()["code"]) == (403, "not_eligible")
    # A third visit grants it again, and the per-member limit is what stops the third coupon.
    assert offered(await enter_at(scene, now - timedelta(minutes=10))) == {stamps["id"]}
    limited = await claim(scene, stamps["id"])
    assert (limited.status_code, limited.json()["code"]) == (409, "member_limit")
    assert await coupons(brand, stamps["id"]) == 2


async def test_grants_is_part_of_the_limits_section(brand: BrandContext) -> None:
    c = await campaign(brand)
    scene = await make_scene(brand)
    created = await offer(scene, c["id"])
    url = f"/v1/offers/{created['id']}"
    patched = await brand.client.patch(url, json={"limits": {"grants": "every_visit"}}, headers=brand.admin)
    assert patched.status_code == 200, patched.text
    assert (await brand.client.get(url, headers=brand.admin)).json()["limits"]["grants"] == "every_visit"
    bad = await brand.client.patch(url, json={"limits": {"grants": "hourly"}}, headers=brand.admin)
    assert bad.status_code == 422
    assert "limits.grants" in bad.text
