"""Members: upsert identities (also under races), social links, consent, referrals, merge, export, erasure, scopes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from solomo.auth.principal import Principal, Role
from solomo.db.engine import make_engine
from solomo.errors import ApiError
from solomo.members.schemas import MemberPatch, MemberUpsert
from solomo.members.service import MemberService
from tests.conftest import BrandContext


async def _upsert(brand: BrandContext, body: dict[str, Any]) -> Any:
    return await brand.client.post("/v1/members", json=body, headers=brand.admin)


def wechat(uid: str, **extra: Any) -> dict[str, Any]:
    return {"provider": "wechat", "uid": uid} | extra


async def test_upsert_is_idempotent_by_external_id_and_by_social_account(brand: BrandContext) -> None:
    first = await _upsert(brand, {"external_id": "crm-1", "display_name": "Li", "tags": ["vip"], "tier": "gold"})
    assert first.status_code == 201, first.text
    again = await _upsert(brand, {"external_id": "crm-1", "display_name": "Li Wei"})
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert (again.json()["display_name"], again.json()["tags"], again.json()["tier"]) == ("Li Wei", ["vip"], "gold")

    social = await _upsert(brand, {"social_account": wechat("o-abc", handle="liwei", followers=120)})
    assert social.status_code == 201
    by_social = await _upsert(brand, {"social_account": wechat("o-abc", followers=150)})
    assert by_social.status_code == 200
    assert by_social.json()["id"] == social.json()["id"]
    assert by_social.json()["social_accounts"][0]["followers"] == 150
    # Naming both identities attaches the external id to the member found by its social account.
    both = await _upsert(brand, {"external_id": "crm-2", "social_account": wechat("o-abc")})
    assert both.json()["id"] == social.json()["id"]
    assert both.json()["external_id"] == "crm-2"


async def _race(brand: BrandContext, bodies: list[dict[str, Any]]) -> list[tuple[uuid.UUID, bool]]:
    """Each upsert on its own pooled connection and transaction, all started together and committed."""
    principal = Principal(brand.id, Role.ADMIN)
    start = asyncio.Event()

    async def one(body: dict[str, Any]) -> tuple[uuid.UUID, bool]:
        async with brand.sessions() as session:
            await start.wait()
            member, created = await MemberService(session, principal).upsert(msgspec.convert(body, MemberUpsert))
            await session.commit()
            return member.id, created

    tasks = [asyncio.create_task(one(body)) for body in bodies]
    await asyncio.sleep(0.05)
    start.set()
    return await asyncio.gather(*tasks)


async def test_twenty_racing_upserts_make_one_member(brand: BrandContext) -> None:
    by_social = await _race(brand, [{"social_account": wechat("o-race")}] * 20)
    assert len({m for m, _ in by_social}) == 1
    assert sorted(c for _, c in by_social) == [False] * 19 + [True]
    mixed = await _race(
        brand,
        [{"external_id": "race-1", "social_account": wechat("o-race-2")}, {"social_account": wechat("o-race-2")}] * 10,
    )
    assert len({m for m, _ in mixed}) == 1
    by_external = await _race(brand, [{"external_id": "race-2"}] * 20)
    assert len({m for m, _ in by_external}) == 1
    async with brand.sessions() as session:
        count = await session.scalar(text("SELECT count(*) FROM members WHERE brand_id = :b"), {"b": brand.id})
    assert count == 3


async def test_taken_social_account_is_409_naming_the_owner(brand: BrandContext) -> None:
    owner = (await _upsert(brand, {"external_id": "a", "social_account": wechat("o-1")})).json()
    other = (await _upsert(brand, {"external_id": "b"})).json()
    answer = await brand.client.post(
        f"/v1/members/{other['id']}/social-accounts", json=wechat("o-1"), headers=brand.admin
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "social_account_taken"
    assert answer.json()["member_id"] == owner["id"]
    clash = await _upsert(brand, {"external_id": "b", "social_account": wechat("o-1")})
    assert clash.status_code == 409
    assert clash.json()["member_id"] == owner["id"]
    # Linking it again to its owner updates it; another provider with the same uid is another account.
    relink = await brand.client.post(
        f"/v1/members/{owner['id']}/social-accounts", json=wechat("o-1", handle="new"), headers=brand.admin
    )
    assert relink.status_code == 200
    assert relink.json()["handle"] == "new"
    weibo = await brand.client.post(
        f"/v1/members/{other['id']}/social-accounts", json={"provider": "weibo", "uid": "o-1"}, headers=brand.admin
    )
    assert weibo.status_code == 201


async def test_unlink_social_account(brand: BrandContext) -> None:
    member = (await _upsert(brand, {"external_id": "u", "social_account": wechat("o-u")})).json()
    url = f"/v1/members/{member['id']}/social-accounts/wechat/o-u"
    assert (await brand.client.delete(url, headers=brand.admin)).status_code == 204
    assert (await brand.client.delete(url, headers=brand.admin)).status_code == 404
    got = (await brand.client.get(f"/v1/members/{member['id']}", headers=brand.admin)).json()
    assert got["social_accounts"] == []


async def test_referrals_link_once_never_self_never_a_cycle(brand: BrandContext) -> None:
    a = (await _upsert(brand, {"external_id": "a"})).json()
    b = (await _upsert(brand, {"external_id": "b", "referred_by": a["referral_code"].lower()})).json()
    assert b["referred_by"] == a["id"]
    c = (await _upsert(brand, {"external_id": "c", "referred_by": b["id"]})).json()
    assert c["referred_by"] == b["id"]

    again = await brand.client.patch(f"/v1/members/{c['id']}", json={"referred_by": a["id"]}, headers=brand.admin)
    assert again.status_code == 409
    assert again.json()["code"] == "referrer_already_set"
    same = await brand.client.patch(f"/v1/members/{c['id']}", json={"referred_by": b["id"]}, headers=brand.admin)
    assert same.status_code == 200

    cycle = await brand.client.patch(f"/v1/members/{a['id']}", json={"referred_by": c["id"]}, headers=brand.admin)
    assert cycle.status_code == 422
    assert cycle.json()["errors"][0]["field"] == "referred_by"
    d = (await _upsert(brand, {"external_id": "d"})).json()
    self_ref = await brand.client.patch(f"/v1/members/{d['id']}", json={"referred_by": d["id"]}, headers=brand.admin)
    assert self_ref.status_code == 422
    unknown = await brand.client.patch(f"/v1/members/{d['id']}", json={"referred_by": "ZZZZZZZZ"}, headers=brand.admin)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "referred_by"


async def test_consent_history_and_self_service_withdrawal(brand: BrandContext) -> None:
    member = (await _upsert(brand, {"external_id": "c", "consent": {"location": True, "marketing": True}})).json()
    assert member["consent"]["location"]["granted"] is True
    assert member["consent"]["location"]["at"] is not None
    token = await brand.member_token(member["id"])
    withdrawn = await brand.client.patch(
        "/v1/members/me", json={"consent": {"location": False}}, headers=brand.bearer(token)
    )
    assert withdrawn.status_code == 200
    assert withdrawn.json()["consent"]["location"]["granted"] is False
    assert withdrawn.json()["consent"]["marketing"]["granted"] is True
    exported = (await brand.client.get(f"/v1/members/{member['id']}/export", headers=brand.admin)).json()
    assert [(e["kind"], e["granted"]) for e in exported["consent_history"]] == [
        ("location", True),
        ("marketing", True),
        ("location", False),
    ]
    sneaky = await brand.client.patch("/v1/members/me", json={"tier": "gold"}, headers=brand.bearer(token))
    assert sneaky.status_code == 422  # a member cannot promote itself


async def test_merge_keeps_everything_and_points_the_old_id_at_the_survivor(brand: BrandContext) -> None:
    referrer = (await _upsert(brand, {"external_id": "r"})).json()
    keep = (await _upsert(brand, {"external_id": "keep", "tags": ["a"], "social_account": wechat("o-keep")})).json()
    gone = (
        await _upsert(
            brand,
            {
                "social_account": {"provider": "douyin", "uid": "d-1", "followers": 5000},
                "tags": ["b"],
                "phone": "+8613800138000",
                "email": "gone@example.com",
                "consent": {"marketing": True},
                "referred_by": referrer["id"],
            },
        )
    ).json()
    referred_by_gone = (await _upsert(brand, {"external_id": "friend", "referred_by": gone["id"]})).json()
    gone_token = await brand.member_token(gone["id"])

    merged = await brand.client.post(f"/v1/members/{keep['id']}/merge", json={"from": gone["id"]}, headers=brand.admin)
    assert merged.status_code == 200, merged.text
    survivor = merged.json()
    assert survivor["id"] == keep["id"]
    assert {(a["provider"], a["uid"]) for a in survivor["social_accounts"]} == {("wechat", "o-keep"), ("douyin", "d-1")}
    assert survivor["tags"] == ["a", "b"]
    assert (survivor["phone"], survivor["email"]) == ("+8613800138000", "gone@example.com")
    assert survivor["consent"]["marketing"]["granted"] is True
    assert survivor["referred_by"] == referrer["id"]
    friend = (await brand.client.get(f"/v1/members/{referred_by_gone['id']}", headers=brand.admin)).json()
    assert friend["referred_by"] == keep["id"]

    old = await brand.client.get(f"/v1/members/{gone['id']}", headers=brand.admin)
    assert old.status_code == 404
    assert (old.json()["code"], old.json()["merged_into"]) == ("member_merged", keep["id"])
    assert (await brand.client.get("/v1/members/me", headers=brand.bearer(gone_token))).status_code == 401
    exported = (await brand.client.get(f"/v1/members/{keep['id']}/export", headers=brand.admin)).json()
    assert exported["merged_from"] == [gone["id"]]
    assert [e["kind"] for e in exported["consent_history"]] == ["marketing"]
    # Upserting by the merged member's social account now finds the survivor.
    found = await _upsert(brand, {"social_account": {"provider": "douyin", "uid": "d-1"}})
    assert found.json()["id"] == keep["id"]


async def test_merge_that_would_close_a_referral_cycle_is_refused(brand: BrandContext) -> None:
    a = (await _upsert(brand, {"external_id": "a"})).json()
    b = (await _upsert(brand, {"external_id": "b", "referred_by": a["id"]})).json()
    answer = await brand.client.post(f"/v1/members/{a['id']}/merge", json={"from": b["id"]}, headers=brand.admin)
    assert answer.status_code == 409
    assert answer.json()["code"] == "referral_cycle"
    c = (await _upsert(brand, {"external_id": "c", "referred_by": b["id"]})).json()
    # Merging c into a would make a (referred by nobody) take c's referrer b, whom a referred.
    answer = await brand.client.post(f"/v1/members/{a['id']}/merge", json={"from": c["id"]}, headers=brand.admin)
    assert answer.status_code == 409
    itself = await brand.client.post(f"/v1/members/{a['id']}/merge", json={"from": a["id"]}, headers=brand.admin)
    assert itself.status_code == 422


async def test_export_contains_every_linked_record(brand: BrandContext) -> None:
    member = (
        await _upsert(
            brand,
            {
                "external_id": "x",
                "social_account": wechat("o-x", union_id="u-x", handle="hx", followers=3),
                "email": "x@example.com",
                "consent": {"location": True},
            },
        )
    ).json()
    await brand.client.post(
        f"/v1/members/{member['id']}/social-accounts", json={"provider": "qq", "uid": "q-x"}, headers=brand.admin
    )
    referred = (await _upsert(brand, {"external_id": "y", "referred_by": member["id"]})).json()
    exported = (await brand.client.get(f"/v1/members/{member['id']}/export", headers=brand.admin)).json()
    assert exported["member"]["email"] == "x@example.com"
    assert {a["uid"] for a in exported["member"]["social_accounts"]} == {"o-x", "q-x"}
    assert exported["member"]["social_accounts"][1]["union_id"] == "u-x"
    assert exported["referred_members"] == [referred["id"]]
    assert [(e["kind"], e["granted"]) for e in exported["consent_history"]] == [("location", True)]


async def test_erasure_leaves_no_personal_data_anywhere(brand: BrandContext) -> None:
    personal = {
        "external_id": "erase-me-ext",
        "display_name": "Erase Me Name",
        "phone": "+8613912345678",
        "email": "erase-me@example.com",
        "tags": ["erase-me-tag"],
        "social_account": wechat("erase-me-uid", union_id="erase-me-union", handle="erase-me-handle"),
        "consent": {"location": True, "marketing": True},
    }
    member = (await _upsert(brand, personal)).json()
    token = await brand.member_token(member["id"])
    answer = await brand.client.delete(f"/v1/members/{member['id']}", headers=brand.admin)
    assert answer.status_code == 204
    gone = await brand.client.get(f"/v1/members/{member['id']}", headers=brand.admin)
    assert (gone.status_code, gone.json()["code"]) == (404, "member_erased")
    assert (await brand.client.get("/v1/members/me", headers=brand.bearer(token))).status_code == 401

    needles = ["erase-me", "+8613912345678", member["referral_code"]]
    async with brand.sessions() as session:
        columns = (
            await session.execute(
                text(
                    """
                    SELECT table_name, column_name FROM information_schema.columns
                    WHERE table_schema = 'public' AND table_name <> 'spatial_ref_sys'
                      AND data_type IN ('text', 'character varying', 'ARRAY', 'jsonb', 'json')
                    """
                )
            )
        ).all()
        assert len(columns) > 10
        for table, column in columns:
            for needle in needles:
                hits = await session.scalar(
                    text(f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS text) LIKE :needle'),
                    {"needle": f"%{needle}%"},
                )
                assert hits == 0, f"{needle!r} still in {table}.{column}"
        tombstone = (
            await session.execute(text("SELECT erased_at, brand_id FROM members WHERE id = :id"), {"id": member["id"]})
        ).one()
        assert tombstone.erased_at is not None  # the anonymous row stays so counts in stats hold
        events = await session.scalar(
            text("SELECT count(*) FROM member_consent_events WHERE member_id = :id"), {"id": member["id"]}
        )
        assert events == 0
    # The external id is free again: a new profile, not the erased one.
    again = await _upsert(brand, {"external_id": "erase-me-ext"})
    assert again.status_code == 201
    assert again.json()["id"] != member["id"]


async def test_scopes_and_personal_data(brand: BrandContext, other_brand: BrandContext) -> None:
    member = (await _upsert(brand, {"external_id": "p", "phone": "+8613700000000", "email": "p@example.com"})).json()
    marketer = brand.bearer(await brand.key("marketer"))
    seen = (await brand.client.get(f"/v1/members/{member['id']}", headers=marketer)).json()
    assert "phone" not in seen
    assert "email" not in seen
    listed = (await brand.client.get("/v1/members", headers=marketer)).json()["items"]
    assert all("phone" not in m and "email" not in m for m in listed)
    assert (
        await brand.client.patch(f"/v1/members/{member['id']}", json={"tier": "x"}, headers=marketer)
    ).status_code == 403
    assert (await brand.client.get(f"/v1/members/{member['id']}", headers=brand.admin)).json()[
        "phone"
    ] == "+8613700000000"

    token = brand.bearer(await brand.member_token(member["id"]))
    assert (await brand.client.get("/v1/members/me", headers=token)).json()["email"] == "p@example.com"
    other = (await _upsert(brand, {"external_id": "q"})).json()
    assert (await brand.client.get(f"/v1/members/{other['id']}", headers=token)).status_code == 403
    assert (await brand.client.get(f"/v1/members/{member['id']}", headers=other_brand.admin)).status_code == 404


async def test_list_filters(brand: BrandContext) -> None:
    await _upsert(
        brand,
        {
            "external_id": "f1",
            "tags": ["vip"],
            "tier": "gold",
            "social_account": wechat("w1"),
            "joined_at": "2025-01-10T00:00:00Z",
        },
    )
    await _upsert(
        brand, {"external_id": "f2", "tags": ["new"], "tier": "silver", "joined_at": "2026-06-01T00:00:00+08:00"}
    )
    await _upsert(
        brand, {"external_id": "f3", "tags": ["vip", "new"], "social_account": {"provider": "weibo", "uid": "wb"}}
    )

    async def ids(**params: Any) -> list[str]:
        answer = await brand.client.get("/v1/members", params=params, headers=brand.admin)
        assert answer.status_code == 200, answer.text
        return sorted(m["external_id"] for m in answer.json()["items"])

    assert await ids(tag="vip") == ["f1", "f3"]
    assert await ids(tier="silver") == ["f2"]
    assert await ids(provider="wechat") == ["f1"]
    assert await ids(joined_to="2026-01-01T00:00:00Z") == ["f1"]
    assert await ids(joined_from="2026-01-01T00:00:00Z", joined_to="2026-07-01T00:00:00Z") == ["f2"]
    assert len((await brand.client.get("/v1/members", params={"limit": 2}, headers=brand.admin)).json()["items"]) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"external_id": "z", "social_account": {"provider": "myspace", "uid": "1"}}, "social_account.provider"),
        ({"external_id": "z", "email": "not-an-email"}, "email"),
        ({"external_id": "z", "phone": "12345"}, "phone"),
        ({"external_id": "z", "social_account": wechat("1", followers=-1)}, "social_account.followers"),
        ({"external_id": "z", "social_account": wechat("1", followers="many")}, "social_account.followers"),
        ({"external_id": "z", "joined_at": "2026-01-01T00:00:00"}, "joined_at"),
        ({"external_id": "", "tier": "gold"}, "external_id"),
        ({"display_name": "nobody"}, "external_id"),
        ({"external_id": "z", "tags": ["two words"]}, "tags[0]"),
        ({"external_id": "z", "consent": {"location": "yes"}}, "consent.location"),
        ({"external_id": "z", "favourite_colour": "red"}, "favourite_colour"),
    ],
)
async def test_bad_input_is_422_naming_the_field(brand: BrandContext, body: dict[str, Any], field: str) -> None:
    answer = await _upsert(brand, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field


async def test_unknown_member_routes_are_404(brand: BrandContext) -> None:
    missing = uuid.uuid4()
    for method, url, body in (
        ("get", f"/v1/members/{missing}", None),
        ("patch", f"/v1/members/{missing}", {"tier": "x"}),
        ("delete", f"/v1/members/{missing}", None),
        ("get", f"/v1/members/{missing}/export", None),
        ("post", f"/v1/members/{missing}/social-accounts", wechat("x")),
        ("post", f"/v1/members/{missing}/tokens", None),
    ):
        kwargs = {"json": body} if body is not None else {}
        answer = await getattr(brand.client, method)(url, headers=brand.admin, **kwargs)
        assert answer.status_code == 404, (method, url, answer.text)


async def test_opposite_referral_links_at_once_never_deadlock(brand: BrandContext, database_url: str) -> None:
    """Ten pairs of members each told at once that the other referred it, each PATCH on its own pooled connection
    and committed: one link of each pair holds, the other would close a cycle and is refused, none deadlocks."""
    principal = Principal(brand.id, Role.ADMIN)
    engine = make_engine(database_url, pool_size=20)
    pool = async_sessionmaker(engine, expire_on_commit=False)
    pairs = [(uuid.UUID((await brand.member())["id"]), uuid.UUID((await brand.member())["id"])) for _ in range(10)]
    start = asyncio.Event()

    async def link(member_id: uuid.UUID, referrer_id: uuid.UUID) -> str:
        async with pool() as session:
            await start.wait()
            try:
                await MemberService(session, principal).update(member_id, MemberPatch(referred_by=str(referrer_id)))
            except ApiError as refused:
                await session.rollback()
                return refused.code
            await session.commit()
            return "ok"

    tasks = [asyncio.create_task(link(*ids)) for a, b in pairs for ids in ((a, b), (b, a))]
    await asyncio.sleep(0.05)
    start.set()
    try:
        outcomes = await asyncio.gather(*tasks)
    finally:
        await engine.dispose()
    for i in range(0, 20, 2):
        assert sorted(outcomes[i : i + 2]) == ["ok", "validation_failed"], outcomes
    async with brand.sessions() as session:
        linked = await session.scalar(
            text("SELECT count(*) FROM members WHERE brand_id = :b AND referred_by_id IS NOT NULL"), {"b": brand.id}
        )
    assert linked == 10
