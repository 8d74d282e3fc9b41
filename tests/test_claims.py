"""Claims and shares through the API: eligibility, terms copied at claim, limits, share codes, idempotency,
and what member merge, export and erasure do to coupons."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from tests.conftest import BrandContext
from tests.coupon_helpers import Shop, open_shop, scalar
from tests.test_offer_eligibility import offer
from tests.test_offers_crud import campaign

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


async def friend(shop: Shop, **member: object) -> dict[str, str]:
    """Another consenting member of the brand, who has not checked in anywhere."""
    body = {"external_id": "friend", "consent": {"location": True, "marketing": True}} | member
    created = await shop.brand.client.post("/v1/members", json=body, headers=shop.brand.admin)
    assert created.status_code in (200, 201), created.text
    return shop.brand.bearer(await shop.brand.member_token(created.json()["id"]))


async def test_a_check_in_makes_the_offer_claimable_and_the_coupon_copies_its_terms(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    coupon = await shop.claimed()
    assert CODE.match(coupon["code"]), coupon["code"]
    assert coupon["qr_payload"] == "SOLOMO:" + coupon["code"].replace("-", "")
    assert coupon["status"] == "active"
    assert coupon["redemption"] is None
    assert coupon["title"] == shop.offer["title"]
    assert coupon["terms"] == {
        "kind": "percent",
        "percent_off": 10.0,
        "amount_off": None,
        "currency": None,
        "free_item": None,
        "redeemable_at": "any_store",
        "redeemable_store_ids": None,
        "requires_visit": False,
    }
    claimed_at, expires_at = (datetime.fromisoformat(coupon[k]) for k in ("claimed_at", "expires_at"))
    assert expires_at - claimed_at == timedelta(minutes=1440)

    # Editing and pausing the offer changes nothing on the coupon already issued.
    url = f"/v1/offers/{shop.offer['id']}"
    edited = await brand.client.patch(
        url,
        json={
            "title": "Half off",
            "coupon": {"kind": "amount", "amount_off": 5, "currency": "EUR", "validity_minutes": 5},
        },
        headers=brand.admin,
    )
    assert edited.status_code == 200, edited.text
    assert (await brand.client.patch(url, json={"active": False}, headers=brand.admin)).status_code == 200
    mine = (await brand.client.get("/v1/members/me/coupons", headers=shop.scene.headers)).json()
    assert mine["items"] == [coupon]
    # ... while a new claim of the paused offer is refused.
    paused = await shop.claim()
    assert (paused.status_code, paused.json()["code"]) == (403, "not_eligible")


async def test_no_claim_without_eligibility_and_no_offer_across_brands(
    brand: BrandContext, other_brand: BrandContext
) -> None:
    shop = await open_shop(brand, eligible=False)
    refused = await shop.claim()
    assert (refused.status_code, refused.json()["code"]) == (403, "not_eligible")
    other = await open_shop(other_brand)
    crossed = await shop.claim(headers=other.scene.headers)
    assert (crossed.status_code, crossed.json()["code"]) == (404, "not_found")
    missing = await brand.client.post(
        "/v1/offers/00000000-0000-4000-8000-000000000000/claims", headers=shop.scene.headers
    )
    assert missing.status_code == 404
    by_key = await shop.claim(headers=brand.admin)
    assert (by_key.status_code, by_key.json()["code"]) == (403, "member_token_required")
    assert await scalar(brand, "SELECT count(*) FROM coupons WHERE brand_id = :b", b=brand.id) == 0


async def test_an_eligibility_lapses_with_its_window(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    await scalar(
        brand,
        "UPDATE offer_eligibility SET eligible_until = now() - interval '1 second' WHERE offer_id = :o RETURNING 1",
        o=shop.offer["id"],
    )
    lapsed = await shop.claim()
    assert (lapsed.status_code, lapsed.json()["code"]) == (403, "not_eligible")


async def test_withdrawn_marketing_consent_stops_claims(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    withdrawn = await brand.client.patch(
        "/v1/members/me", json={"consent": {"marketing": False}}, headers=shop.scene.headers
    )
    assert withdrawn.status_code == 200, withdrawn.text
    refused = await shop.claim()
    assert (refused.status_code, refused.json()["code"]) == (403, "not_eligible")
    assert "consent" in refused.json()["detail"]


async def test_per_member_and_per_day_limits(brand: BrandContext) -> None:
    shop = await open_shop(brand, limits={"per_member": 3, "per_member_per_day": 2, "grants": "every_visit"})
    await shop.claimed()
    await shop.revisit()
    await shop.claimed()
    await shop.revisit()
    today = await shop.claim()
    assert (today.status_code, today.json()["code"], today.json()["limit"]) == (
        409,
        "member_limit",
        "per_member_per_day",
    )
    assert 0 < int(today.headers["retry-after"]) <= 25 * 3600
    # The next brand-local day allows one more, and then the per-member limit stands.
    await scalar(
        brand, "UPDATE member_offer_claims SET day = day - 1 WHERE offer_id = :o RETURNING 1", o=shop.offer["id"]
    )
    await shop.claimed()  # the grant a refused claim left unspent
    await shop.revisit()
    done = await shop.claim()
    assert (done.status_code, done.json()["code"], done.json()["limit"]) == (409, "member_limit", "per_member")
    assert "retry-after" not in done.headers
    assert await scalar(brand, "SELECT count(*) FROM coupons WHERE offer_id = :o", o=shop.offer["id"]) == 3


async def test_the_total_limit_and_changing_it(brand: BrandContext) -> None:
    shop = await open_shop(brand, limits={"total": 2, "grants": "every_visit"})
    await shop.claimed()
    await shop.revisit()
    await shop.claimed()
    await shop.revisit()
    exhausted = await shop.claim()
    assert (exhausted.status_code, exhausted.json()["code"]) == (409, "offer_exhausted")
    url = f"/v1/offers/{shop.offer['id']}"
    raised = await brand.client.patch(url, json={"limits": {"total": 3, "grants": "every_visit"}}, headers=brand.admin)
    assert raised.status_code == 200, raised.text
    await shop.claimed()  # the grant the refused claim left unspent
    await shop.revisit()
    assert (await shop.claim()).status_code == 409
    # Lowering it below what was issued keeps the coupons and allows no more; no limit allows any number.
    lowered = await brand.client.patch(url, json={"limits": {"total": 1, "grants": "every_visit"}}, headers=brand.admin)
    assert lowered.status_code == 200
    assert (await shop.claim()).json()["code"] == "offer_exhausted"
    assert (await brand.client.patch(url, json={"limits": {}}, headers=brand.admin)).status_code == 200
    await shop.claimed()
    issued = await scalar(brand, "SELECT sum(used) FROM offer_capacity WHERE offer_id = :o", o=shop.offer["id"])
    assert issued == 4 == await scalar(brand, "SELECT count(*) FROM coupons WHERE offer_id = :o", o=shop.offer["id"])


async def test_shares_waive_where_but_not_who(brand: BrandContext) -> None:
    shop = await open_shop(brand, eligible=False, shareable=True, who={"tags": ["vip"]})
    await brand.client.patch(f"/v1/members/{shop.scene.member['id']}", json={"tags": ["vip"]}, headers=brand.admin)
    # Sharing needs no check-in: a sharer (a KOL) may never have been near a store.
    share = await brand.client.post(f"/v1/offers/{shop.offer['id']}/shares", headers=shop.scene.headers)
    assert share.status_code == 201, share.text
    again = await brand.client.post(f"/v1/offers/{shop.offer['id']}/shares", headers=shop.scene.headers)
    assert again.json()["code"] == share.json()["code"]  # one share code per member and offer
    code = share.json()["code"]

    own = await shop.claim(share_code=code)
    assert (own.status_code, own.json()["code"], own.json()["errors"][0]["field"]) == (
        422,
        "own_share_code",
        "share_code",
    )

    outsider = await friend(shop)
    refused = await shop.claim(headers=outsider, share_code=code)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_eligible")  # not a vip: who still applies

    vip = await friend(shop, external_id="vip-friend", tags=["vip"])
    claimed = await shop.claim(headers=vip, share_code=code.lower())
    assert claimed.status_code == 201, claimed.text
    assert claimed.json()["shared_by"] == shop.scene.member["id"]
    bogus = await shop.claim(headers=vip, share_code="NOSUCHCODE")
    assert (bogus.status_code, bogus.json()["errors"][0]["field"]) == (422, "share_code")


async def test_share_codes_belong_to_their_offer_and_need_a_shareable_one(brand: BrandContext) -> None:
    shop = await open_shop(brand, shareable=True)
    private = await offer(shop.scene, shop.campaign["id"], title="Members only")
    refused = await brand.client.post(f"/v1/offers/{private['id']}/shares", headers=shop.scene.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_shareable")
    code = (await brand.client.post(f"/v1/offers/{shop.offer['id']}/shares", headers=shop.scene.headers)).json()["code"]
    other = await friend(shop)
    wrong_offer = await brand.client.post(
        f"/v1/offers/{private['id']}/claims", json={"share_code": code}, headers=other
    )
    assert (wrong_offer.status_code, wrong_offer.json()["errors"][0]["field"]) == (422, "share_code")
    # An offer that stops being shareable stops honouring its codes.
    await brand.client.patch(f"/v1/offers/{shop.offer['id']}", json={"shareable": False}, headers=brand.admin)
    assert (await shop.claim(headers=other, share_code=code)).status_code == 422


async def test_an_idempotent_claim_is_replayed_not_repeated(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    headers = shop.scene.headers | {"Idempotency-Key": "claim-1"}
    first = await shop.claim(headers=headers)
    replay = await shop.claim(headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    other_body = await shop.claim(headers=headers, share_code="ABCDEFGHJK")
    assert (other_body.status_code, other_body.json()["code"]) == (422, "idempotency_key_reused")
    assert await scalar(brand, "SELECT count(*) FROM coupons WHERE offer_id = :o", o=shop.offer["id"]) == 1


async def test_coupon_lists_filter_by_status_and_page(brand: BrandContext) -> None:
    shop = await open_shop(brand, limits={"grants": "every_visit"})
    made = [(await shop.claimed())["id"]]
    for _ in range(2):
        await shop.revisit()
        made.append((await shop.claimed())["id"])
    await scalar(
        brand,
        "UPDATE coupons SET expires_at = claimed_at + interval '1 millisecond' WHERE id = :i RETURNING 1",
        i=made[0],
    )
    page = (await brand.client.get("/v1/members/me/coupons?limit=2", headers=shop.scene.headers)).json()
    rest = (
        await brand.client.get(
            f"/v1/members/me/coupons?limit=2&cursor={page['next_cursor']}", headers=shop.scene.headers
        )
    ).json()
    assert [c["id"] for c in page["items"] + rest["items"]] == made[::-1]
    assert rest["next_cursor"] is None
    expired = (await brand.client.get("/v1/members/me/coupons?status=expired", headers=shop.scene.headers)).json()
    assert [c["id"] for c in expired["items"]] == [made[0]]
    by_admin = await brand.client.get(
        f"/v1/members/{shop.scene.member['id']}/coupons?status=active", headers=brand.admin
    )
    assert {c["id"] for c in by_admin.json()["items"]} == set(made[1:])


async def test_merge_moves_coupons_and_counts_and_erasure_cancels_open_ones(brand: BrandContext) -> None:
    shop = await open_shop(brand, shareable=True, limits={"per_member": 2})
    coupon = await shop.claimed()
    code = (await brand.client.post(f"/v1/offers/{shop.offer['id']}/shares", headers=shop.scene.headers)).json()["code"]
    survivor = (await brand.client.post("/v1/members", json={"external_id": "survivor"}, headers=brand.admin)).json()
    merged = await brand.client.post(
        f"/v1/members/{survivor['id']}/merge", json={"from": shop.scene.member["id"]}, headers=brand.admin
    )
    assert merged.status_code == 200, merged.text
    moved = (await brand.client.get(f"/v1/members/{survivor['id']}/coupons", headers=brand.admin)).json()
    assert [c["id"] for c in moved["items"]] == [coupon["id"]]
    claims = await scalar(brand, "SELECT claimed FROM member_offer_claims WHERE member_id = :m", m=survivor["id"])
    assert claims == 1

    export = (await brand.client.get(f"/v1/members/{survivor['id']}/export", headers=brand.admin)).json()
    assert [c["id"] for c in export["coupons"]] == [coupon["id"]]
    assert [s["code"] for s in export["shares"]] == [code]

    assert (await brand.client.delete(f"/v1/members/{survivor['id']}", headers=brand.admin)).status_code == 204
    status = await scalar(brand, "SELECT cancelled_at IS NOT NULL FROM coupons WHERE id = :i", i=coupon["id"])
    assert status is True
    revoked = await scalar(brand, "SELECT bool_and(revoked_at IS NOT NULL) FROM offer_shares WHERE code = :c", c=code)
    assert revoked is True
    assert await scalar(brand, "SELECT count(*) FROM member_offer_claims WHERE member_id = :m", m=survivor["id"]) == 0
    # The coupon stays (anonymous) for stats.
    assert await scalar(brand, "SELECT count(*) FROM coupons WHERE offer_id = :o", o=shop.offer["id"]) == 1


async def test_campaign_paused_means_no_claims(brand: BrandContext) -> None:
    shop = await open_shop(brand)
    await brand.client.patch(f"/v1/campaigns/{shop.campaign['id']}", json={"status": "paused"}, headers=brand.admin)
    assert (await shop.claim()).status_code == 403
    other = await campaign(brand)
    assert other["id"] != shop.campaign["id"]
