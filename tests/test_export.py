"""GET /v1/members/{id}/export: everything held about the member, every history in full, streamed in pages."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from sqlalchemy import text

from solomo.geo.crs import gcj02_to_wgs84
from solomo.members import export
from solomo.members.schemas import MemberExport
from tests.conftest import BrandContext
from tests.coupon_helpers import open_shop, scalar
from tests.scenes import PARIS, make_scene, offset


async def test_export_holds_every_kind_of_row(brand: BrandContext, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages of two rows, so every history of more than two rows is read across pages.
    monkeypatch.setattr(export, "PAGE", 2)
    shop = await open_shop(brand, shareable=True)
    scene, member_id = shop.scene, shop.scene.member["id"]
    fence_id, offer_id, store_id = shop.fence["id"], shop.offer["id"], scene.store["id"]
    coupon = await shop.claimed()
    redeemed = await shop.redeem(coupon["code"])
    assert redeemed.status_code == 201, redeemed.text
    share = await brand.client.post(f"/v1/offers/{offer_id}/shares", headers=scene.headers)
    assert share.status_code == 201, share.text
    kept = await scene.checkin(*offset(*PARIS, 90, 3000), after_s=600)
    assert kept.status_code == 201
    again = await brand.client.post(
        "/v1/checkins",
        json={
            "location": {"type": "Point", "coordinates": [*PARIS]},
            "accuracy_m": 5,
            "recorded_at": (scene.clock.replace(microsecond=0)).isoformat(),
        },
        headers=scene.headers | {"Idempotency-Key": "till-retry-1"},
    )
    assert again.status_code == 201, again.text
    referred = await brand.client.post(
        "/v1/members", json={"external_id": "friend", "referred_by": member_id}, headers=brand.admin
    )
    assert referred.status_code == 201
    # The oldest check-in is past the brand's retention: its raw coordinates are gone, the coarse ones stay.
    oldest = await scalar(
        brand,
        "UPDATE checkins SET coarse_location = location, location = NULL WHERE id = ("
        " SELECT id FROM checkins WHERE member_id = :m ORDER BY recorded_at LIMIT 1) RETURNING id",
        m=uuid.UUID(member_id),
    )
    checkin_ids = await _ids(brand, "SELECT id FROM checkins WHERE member_id = :m ORDER BY recorded_at, id", member_id)
    assert len(checkin_ids) == 4  # two for the visit, then two at one instant (the keyset breaks the tie by id)

    answer = await brand.client.get(f"/v1/members/{member_id}/export", headers=brand.admin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    document = msgspec.json.decode(answer.content, type=MemberExport)  # the stream is the documented schema

    assert str(document.member.id) == member_id
    assert [(e.kind, e.granted) for e in document.consent_history] == [("location", True), ("marketing", True)]
    assert [str(m) for m in document.referred_members] == [referred.json()["id"]]
    assert [c.code for c in document.coupons] == [coupon["code"]]
    assert [s.code for s in document.shares] == [share.json()["code"]]

    # Every check-in, oldest first, none twice across the pages, with its coordinates while they are kept.
    assert [c.id for c in document.checkins] == checkin_ids
    first = document.checkins[0]
    assert first.id == oldest
    assert first.location is None
    assert first.coarse_location is not None
    located = [c.location.coordinates for c in document.checkins if c.location is not None]
    assert len(located) == 3
    assert any(point == pytest.approx(list(PARIS)) for point in located)
    entered = [m for c in document.checkins for m in c.matches if m.event == "enter"]
    assert {(str(m.fence_id), str(m.store_id)) for m in entered} == {(fence_id, store_id)}

    assert [str(f.fence_id) for f in document.fence_states] == [fence_id]
    assert document.fence_states[0].last_recorded_at == document.checkins[-1].recorded_at
    assert [str(e.offer_id) for e in document.eligibility] == [offer_id]
    assert document.eligibility[0].claimed_at is not None
    assert [str(i.offer_id) for i in document.impressions] == [offer_id]
    assert [str(r.id) for r in document.redemptions] == [redeemed.json()["id"]]
    assert [(str(c.offer_id), c.claimed) for c in document.claim_counters] == [(offer_id, 1)]
    assert {str(v.store_key) for v in document.first_visits} >= {store_id}
    assert [(r.key, r.status_code) for r in document.idempotency_records] == [("till-retry-1", 201)]
    # That the request was kept, not the answer stored with it; nor the brand's own ids or staff keys.
    raw = answer.json()
    assert set(raw["idempotency_records"][0]) == {"method", "key", "status_code", "created_at"}
    assert not {"brand_id", "key_id"} & set(raw["redemptions"][0])
    assert not {"brand_id", "member_id"} & set(raw["checkins"][0])


async def test_export_in_gcj02_converts_every_point(brand: BrandContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "PAGE", 2)  # three check-ins: two pages, each converted in one pass
    scene = await make_scene(brand)
    points = [offset(121.4737, 31.2304, 90, 200 * n) for n in range(3)]
    for point in points:
        assert (await scene.checkin(*point, crs="gcj02")).status_code == 201
    async with brand.sessions() as session:  # the oldest one past retention: only its coarse point is left
        await session.execute(
            text(
                "UPDATE checkins SET coarse_location = location, location = NULL"
                " WHERE member_id = :m AND recorded_at = (SELECT min(recorded_at) FROM checkins WHERE member_id = :m)"
            ),
            {"m": scene.member["id"]},
        )
        await session.commit()
    url = f"/v1/members/{scene.member['id']}/export"

    answer = await brand.client.get(url, params={"crs": "gcj02"}, headers=brand.admin)
    assert answer.status_code == 200, answer.text
    checkins = msgspec.json.decode(answer.content, type=MemberExport).checkins
    assert checkins[0].location is None
    assert checkins[0].coarse_location is not None
    assert checkins[0].coarse_location.coordinates == pytest.approx(list(points[0]), abs=1e-8)
    assert [c.location.coordinates for c in checkins[1:] if c.location] == [
        pytest.approx(list(point), abs=1e-8) for point in points[1:]
    ]
    in_wgs = msgspec.json.decode((await brand.client.get(url, headers=brand.admin)).content, type=MemberExport).checkins
    assert in_wgs[1].location is not None
    assert in_wgs[1].location.coordinates == pytest.approx(list(gcj02_to_wgs84(*points[1])), abs=1e-8)


async def test_export_of_a_quiet_member_has_empty_histories(brand: BrandContext) -> None:
    member = await brand.member()
    answer = await brand.client.get(f"/v1/members/{member['id']}/export", headers=brand.admin)
    assert answer.status_code == 200
    document = msgspec.json.decode(answer.content, type=MemberExport)
    assert (document.checkins, document.impressions, document.idempotency_records) == ([], [], [])


async def test_export_of_an_unknown_or_erased_member_is_404_before_anything_is_streamed(brand: BrandContext) -> None:
    assert (await brand.client.get(f"/v1/members/{uuid.uuid4()}/export", headers=brand.admin)).status_code == 404
    member = await brand.member()
    assert (await brand.client.delete(f"/v1/members/{member['id']}", headers=brand.admin)).status_code == 204
    gone = await brand.client.get(f"/v1/members/{member['id']}/export", headers=brand.admin)
    assert gone.status_code == 404
    assert gone.json()["code"] == "member_erased"


async def _ids(brand: BrandContext, sql: str, member_id: str) -> list[uuid.UUID]:
    from sqlalchemy import text

    async with brand.sessions() as session:
        return list((await session.scalars(text(sql), {"m": uuid.UUID(member_id)})).all())
