"""Offers inside the check-in: place, audience, time and trigger decide; impressions count once a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from solomo.geo.crs import wgs84_to_gcj02
from tests.conftest import BrandContext
from tests.scenes import PARIS, Scene, make_scene, offset, statements_sent
from tests.test_offers_crud import campaign, offer_body

#: The scenes check in from two hours ago; a long eligibility window keeps their grants current.
WINDOW_MIN = 600


async def shop(brand: BrandContext) -> Scene:
    scene = await make_scene(brand)
    await brand.client.patch("/v1/brand", json={"eligibility_window_min": WINDOW_MIN}, headers=brand.admin)
    return scene


@pytest.fixture
async def scene(brand: BrandContext) -> Scene:
    return await shop(brand)


async def offer(scene: Scene, campaign_id: str, **fields: Any) -> dict[str, Any]:
    answer = await scene.brand.client.post(
        "/v1/offers", json=offer_body(campaign_id, **fields), headers=scene.brand.admin
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def fence_at(
    scene: Scene, point: tuple[float, float] = PARIS, dwell: int = 0, store: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer = await scene.brand.client.post(
        f"/v1/stores/{(store or scene.store)['id']}/geofences",
        json={
            "name": "f",
            "geometry": {"type": "Point", "coordinates": list(point)},
            "radius_m": 150,
            "dwell_seconds": dwell,
        },
        headers=scene.brand.admin,
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def offered(result: dict[str, Any]) -> set[str]:
    return {o["offer_id"] for o in result["offers"]}


async def visit(scene: Scene, point: tuple[float, float] = PARIS) -> dict[str, Any]:
    """Leave (so the next check-in is an enter) and come back."""
    await scene.ok(*offset(*point, 0, 5000), after_s=600)
    return await scene.ok(*point, after_s=600)


async def impressions(scene: Scene) -> int:
    async with scene.brand.sessions() as session:
        count: int = await session.scalar(
            text("SELECT count(*) FROM offer_impressions WHERE member_id = :m"), {"m": scene.member["id"]}
        )
    return count


async def test_enter_and_dwell_triggers(scene: Scene) -> None:
    await fence_at(scene, dwell=60)
    c = await campaign(scene.brand)
    on_enter = await offer(scene, c["id"], title="Welcome")
    on_dwell = await offer(scene, c["id"], title="Stay a while", trigger="dwell")
    entered = await scene.ok(*PARIS)
    assert offered(entered) == {on_enter["id"]}
    granted = entered["offers"][0]
    assert granted["store_id"] == scene.store["id"]
    window_end = datetime.fromisoformat(entered["recorded_at"]) + timedelta(minutes=WINDOW_MIN)
    assert datetime.fromisoformat(granted["eligible_until"]) == window_end
    assert offered(await scene.ok(*PARIS, after_s=30)) == set()  # staying inside grants nothing new
    assert offered(await scene.ok(*PARIS, after_s=40)) == {on_dwell["id"]}


async def test_place_rules(scene: Scene) -> None:
    here = await fence_at(scene)
    elsewhere_store = await scene.brand.store(2.40, 48.87)
    elsewhere = await fence_at(scene, (2.40, 48.87), store=elsewhere_store)
    c = await campaign(scene.brand)
    everywhere = await offer(scene, c["id"], limits={"grants": "every_visit"})  # granted at both stores today
    this_store = await offer(scene, c["id"], where={"target": "stores", "store_ids": [scene.store["id"]]})
    other_store = await offer(scene, c["id"], where={"target": "stores", "store_ids": [elsewhere_store["id"]]})
    this_fence = await offer(scene, c["id"], where={"target": "geofences", "geofence_ids": [here["id"]]})
    other_fence = await offer(scene, c["id"], where={"target": "geofences", "geofence_ids": [elsewhere["id"]]})
    assert offered(await scene.ok(*PARIS)) == {everywhere["id"], this_store["id"], this_fence["id"]}
    far_visit = await scene.ok(2.40, 48.87, after_s=3600)
    assert offered(far_visit) == {everywhere["id"], other_store["id"], other_fence["id"]}


@pytest.mark.parametrize(
    ("who", "member", "admitted"),
    [
        ({"tags": ["student", "vip"]}, {"tags": ["vip"]}, True),
        ({"tags": ["student"]}, {"tags": ["vip"]}, False),
        ({"tiers": ["gold"]}, {"tier": "gold"}, True),
        ({"tiers": ["gold"]}, {"tier": "silver"}, False),
        ({"provider": "douyin"}, {"social_account": {"provider": "douyin", "uid": "d1"}}, True),
        ({"provider": "douyin"}, {"social_account": {"provider": "wechat", "uid": "w1"}}, False),
        ({"min_followers": 1000}, {"social_account": {"provider": "weibo", "uid": "kol", "followers": 5000}}, True),
        ({"min_followers": 1000}, {"social_account": {"provider": "weibo", "uid": "fan", "followers": 10}}, False),
        (
            {"provider": "douyin", "min_followers": 1000},
            {"social_account": {"provider": "weibo", "uid": "x", "followers": 5000}},
            False,
        ),
        ({"joined_within_days": 30}, {"joined_at": (datetime.now(UTC) - timedelta(days=3)).isoformat()}, True),
        ({"joined_within_days": 30}, {"joined_at": (datetime.now(UTC) - timedelta(days=90)).isoformat()}, False),
    ],
)
async def test_audience_rules(brand: BrandContext, who: dict[str, Any], member: dict[str, Any], admitted: bool) -> None:
    scene = await shop(brand)
    await brand.client.post("/v1/members", json={"external_id": "walker"} | member, headers=brand.admin)
    await fence_at(scene)
    c = await campaign(brand)
    target = await offer(scene, c["id"], who=who)
    assert (target["id"] in offered(await scene.ok(*PARIS))) is admitted


async def test_no_marketing_consent_no_offers_no_impressions(scene: Scene) -> None:
    await fence_at(scene)
    c = await campaign(scene.brand)
    await offer(scene, c["id"])
    await scene.brand.client.patch("/v1/members/me", json={"consent": {"marketing": False}}, headers=scene.headers)
    result = await scene.ok(*PARIS)
    assert result["matches"] != []
    assert result["offers"] == []
    assert await impressions(scene) == 0


async def test_time_rules(scene: Scene) -> None:
    await fence_at(scene)
    running = await campaign(scene.brand)
    paused = await campaign(scene.brand, status="paused")
    later = await campaign(
        scene.brand,
        starts_at=(datetime.now(UTC) + timedelta(days=2)).isoformat(),
        ends_at=(datetime.now(UTC) + timedelta(days=9)).isoformat(),
    )
    served = await offer(scene, running["id"])
    await offer(scene, paused["id"])
    await offer(scene, later["id"])
    switched_off = await offer(scene, running["id"], active=False)
    store_now = datetime.now(ZoneInfo("Europe/Paris"))
    day = store_now.strftime("%a").lower()
    open_now = await offer(
        scene, running["id"],
        when={"weekly_hours": [{"days": [day], "start": (store_now - timedelta(hours=4)).strftime("%H:%M"), "end": "24:00"}]},
    )  # fmt: skip
    # Today's hour after the next one; or, when that crosses midnight, the hour before the last one. (A window
    # from midnight to four hours ago held "now" between midnight and 4:00.)
    opens, closes = store_now + timedelta(hours=1), store_now + timedelta(hours=2)
    if closes.date() != store_now.date():
        opens, closes = store_now - timedelta(hours=2), store_now - timedelta(hours=1)
    closed_now = await offer(
        scene, running["id"],
        when={"weekly_hours": [{"days": [day], "start": opens.strftime("%H:%M"), "end": closes.strftime("%H:%M")}]},
    )  # fmt: skip
    result = await scene.ok(*PARIS, after_s=7200)  # recorded about now, in the store's time zone
    assert served["id"] in offered(result)
    assert open_now["id"] in offered(result) or store_now.hour < 4  # a window that began four hours ago
    assert closed_now["id"] not in offered(result)
    assert switched_off["id"] not in offered(result)
    assert len(offered(result)) == (2 if store_now.hour >= 4 else 1)

    # Pausing the campaign stops it at once.
    scene.clock = datetime.now(UTC) - timedelta(minutes=30)
    await scene.brand.client.patch(
        f"/v1/campaigns/{running['id']}", json={"status": "paused"}, headers=scene.brand.admin
    )
    assert offered(await visit(scene)) == set()


async def test_flagged_checkins_grant_nothing(scene: Scene) -> None:
    await fence_at(scene)
    c = await campaign(scene.brand)
    await offer(scene, c["id"])
    assert (await scene.ok(*PARIS, mocked=True))["offers"] == []
    assert (await scene.ok(*PARIS, accuracy=900))["offers"] == []
    async with scene.brand.sessions() as session:
        granted = await session.scalar(
            text("SELECT count(*) FROM offer_eligibility WHERE member_id = :m"), {"m": scene.member["id"]}
        )
    assert granted == 0


async def test_impressions_count_once_per_member_offer_and_day(scene: Scene) -> None:
    await fence_at(scene)
    c = await campaign(scene.brand)
    # Granted again on the second visit (a daily grant would not be, nor shown), yet counted once today.
    await offer(scene, c["id"], limits={"grants": "every_visit"})
    await offer(scene, c["id"], title="second", limits={"grants": "every_visit"})
    assert len((await scene.ok(*PARIS))["offers"]) == 2
    assert len((await visit(scene))["offers"]) == 2
    assert await impressions(scene) == 2


async def test_brand_b_never_gets_brand_a_offers(brand: BrandContext, other_brand: BrandContext) -> None:
    a = await shop(brand)
    await fence_at(a)
    await offer(a, (await campaign(brand))["id"])
    b = await shop(other_brand)
    await fence_at(b)
    b_offer = await offer(b, (await campaign(other_brand))["id"])
    assert offered(await b.ok(*PARIS)) == {b_offer["id"]}


async def test_nearby_offers_are_for_browsing(scene: Scene) -> None:
    near_store = scene.store
    far_store = await scene.brand.store(*offset(*PARIS, 90, 1500))
    c = await campaign(scene.brand)
    at_far = await offer(scene, c["id"], title="far", where={"target": "stores", "store_ids": [far_store["id"]]})
    everywhere = await offer(scene, c["id"], title="everywhere")
    await offer(scene, c["id"], title="gold only", who={"tiers": ["gold"]})
    answer = await scene.brand.client.get(
        "/v1/offers/nearby", params={"lon": PARIS[0], "lat": PARIS[1], "radius_m": 3000}, headers=scene.headers
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["offer_id"], i["store_id"]) for i in items] == [
        (everywhere["id"], near_store["id"]),
        (at_far["id"], far_store["id"]),
    ]
    assert items[1]["distance_m"] == pytest.approx(1500, rel=0.01)
    assert items[0]["coupon"]["percent_off"] == 10
    assert await impressions(scene) == 2
    async with scene.brand.sessions() as session:
        granted = await session.scalar(
            text("SELECT count(*) FROM offer_eligibility WHERE member_id = :m"), {"m": scene.member["id"]}
        )
    assert granted == 0  # browsing grants nothing
    assert (
        await scene.brand.client.get("/v1/offers/nearby", params={"lon": 0, "lat": 0}, headers=scene.brand.admin)
    ).status_code == 403


async def test_nearby_offers_take_the_point_in_gcj02(brand: BrandContext) -> None:
    scene = await shop(brand)
    scene.store = await brand.store(121.4737, 31.2304)  # People's Square, WGS-84
    everywhere = await offer(scene, (await campaign(brand))["id"], title="everywhere")
    lon, lat = wgs84_to_gcj02(121.4737, 31.2304)

    async def nearby(**params: Any) -> list[dict[str, Any]]:
        answer = await brand.client.get(
            "/v1/offers/nearby", params={"lon": lon, "lat": lat, "radius_m": 100} | params, headers=scene.headers
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    [item] = await nearby(crs="gcj02")
    assert (item["offer_id"], item["store_id"]) == (everywhere["id"], scene.store["id"])
    assert item["distance_m"] < 0.5
    assert await nearby() == []  # the GCJ-02 numbers read as WGS-84 are 500 m away


async def test_a_checkin_that_grants_offers_still_takes_one_statement(scene: Scene, app: Litestar) -> None:
    await fence_at(scene)
    c = await campaign(scene.brand)
    for n in range(5):
        await offer(scene, c["id"], title=f"o{n}", who={"tags": [] if n % 2 else ["nobody"]})
    with statements_sent(app) as statements:
        result = await scene.ok(*PARIS)
    assert len(result["offers"]) == 2
    assert len(statements) == 1, statements


@pytest.mark.parametrize(
    ("hours", "instant", "zone", "inside"),
    [
        # Across midnight: Friday 22:00 to Saturday 02:00, store-local.
        ([{"days": ["fri"], "start": "22:00", "end": "02:00"}], "2026-11-27T23:30:00+01:00", "Europe/Paris", True),
        ([{"days": ["fri"], "start": "22:00", "end": "02:00"}], "2026-11-28T01:30:00+01:00", "Europe/Paris", True),
        ([{"days": ["fri"], "start": "22:00", "end": "02:00"}], "2026-11-28T02:30:00+01:00", "Europe/Paris", False),
        ([{"days": ["fri"], "start": "22:00", "end": "02:00"}], "2026-11-27T01:30:00+01:00", "Europe/Paris", False),
        # Time-zone boundary: the same instant is Monday 08:30 in Tokyo and Sunday 23:30 UTC.
        ([{"days": ["mon"], "start": "08:00", "end": "09:00"}], "2026-11-22T23:30:00+00:00", "Asia/Tokyo", True),
        ([{"days": ["mon"], "start": "08:00", "end": "09:00"}], "2026-11-22T23:30:00+00:00", "UTC", False),
        # DST (New York springs forward on 2026-03-08 at 02:00): 09:00 to 10:00 local is 14:00 UTC before, 13:00 after.
        (
            [{"days": ["sat", "sun", "mon"], "start": "09:00", "end": "10:00"}],
            "2026-03-07T14:30:00+00:00",
            "America/New_York",
            True,
        ),
        (
            [{"days": ["sat", "sun", "mon"], "start": "09:00", "end": "10:00"}],
            "2026-03-09T14:30:00+00:00",
            "America/New_York",
            False,
        ),
        (
            [{"days": ["sat", "sun", "mon"], "start": "09:00", "end": "10:00"}],
            "2026-03-09T13:30:00+00:00",
            "America/New_York",
            True,
        ),
        ([{"days": ["sun"], "start": "00:00", "end": "24:00"}], "2026-03-08T06:59:00+00:00", "America/New_York", True),
    ],
)
async def test_weekly_hours_in_store_local_time(
    engine: AsyncEngine, hours: list[dict[str, Any]], instant: str, zone: str, inside: bool
) -> None:
    import json

    async with engine.connect() as conn:
        got = await conn.scalar(
            text("SELECT solomo_in_weekly_hours(CAST(:h AS jsonb), CAST(:t AS timestamptz) AT TIME ZONE :z)"),
            {"h": json.dumps(hours), "t": datetime.fromisoformat(instant), "z": zone},
        )
    assert got is inside


async def test_merge_and_erasure_cover_offer_data(scene: Scene) -> None:
    await fence_at(scene)
    c = await campaign(scene.brand)
    await offer(scene, c["id"])
    await scene.ok(*PARIS)
    twin = await scene.brand.member("twin")
    twin_token = await scene.brand.member_token(twin["id"])
    await scene.brand.client.patch(
        f"/v1/members/{twin['id']}", json={"consent": {"location": True, "marketing": True}}, headers=scene.brand.admin
    )
    body = {
        "location": {"type": "Point", "coordinates": list(PARIS)},
        "accuracy_m": 5,
        "recorded_at": datetime.now(UTC).isoformat(),
    }
    assert (
        await scene.brand.client.post("/v1/checkins", json=body, headers=scene.brand.bearer(twin_token))
    ).status_code == 201
    merged = await scene.brand.client.post(
        f"/v1/members/{scene.member['id']}/merge", json={"from": twin["id"]}, headers=scene.brand.admin
    )
    assert merged.status_code == 200, merged.text
    async with scene.brand.sessions() as session:
        counts = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM offer_eligibility WHERE member_id = :m) AS granted,"
                    " (SELECT count(*) FROM offer_impressions WHERE member_id = :m) AS shown,"
                    " (SELECT count(*) FROM offer_impressions WHERE member_id = :t) AS left_behind"
                ),
                {"m": scene.member["id"], "t": twin["id"]},
            )
        ).one()
    assert (counts.granted, counts.shown, counts.left_behind) == (1, 1, 0)  # one grant, one impression a day
    assert (
        await scene.brand.client.delete(f"/v1/members/{scene.member['id']}", headers=scene.brand.admin)
    ).status_code == 204
    async with scene.brand.sessions() as session:
        granted = await session.scalar(
            text("SELECT count(*) FROM offer_eligibility WHERE member_id = :m"), {"m": scene.member["id"]}
        )
        shown = await session.scalar(
            text("SELECT count(*) FROM offer_impressions WHERE member_id = :m"), {"m": scene.member["id"]}
        )
    assert (granted, shown) == (0, 1)  # the grant goes; the count stays, on the anonymous tombstone


async def test_another_members_account_does_not_admit_this_one(scene: Scene) -> None:
    await scene.brand.client.post(
        "/v1/members",
        json={"external_id": "kol", "social_account": {"provider": "douyin", "uid": "big", "followers": 90_000}},
        headers=scene.brand.admin,
    )
    await fence_at(scene)
    c = await campaign(scene.brand)
    await offer(scene, c["id"], who={"provider": "douyin"})
    await offer(scene, c["id"], who={"min_followers": 1000})
    assert (await scene.ok(*PARIS))["offers"] == []
