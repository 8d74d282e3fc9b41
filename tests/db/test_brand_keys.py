"""Keys by brand (migration 0008_brand_keys's rules, as the app lives with them): codes are unique per brand, a
row cannot point at another brand's row, and an API key finds its brand through ``api_key_routes``."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from solomo.coupons.codes import normalize
from tests.conftest import BrandContext
from tests.coupon_helpers import open_shop, scalar


async def test_a_coupon_code_is_unique_per_brand_and_a_till_finds_its_own_brand_s(
    brand: BrandContext, other_brand: BrandContext
) -> None:
    ours = await (await open_shop(brand)).claimed()
    theirs_shop = await open_shop(other_brand)
    theirs = await theirs_shop.claimed()
    # Brand B's coupon takes brand A's code: allowed, nothing is unique across brands.
    await scalar(
        other_brand,
        "UPDATE coupons SET code = :code WHERE brand_id = :brand_id AND id = :id RETURNING id",
        code=normalize(ours["code"]),
        brand_id=other_brand.id,
        id=theirs["id"],
    )
    redeemed = await theirs_shop.redeem(ours["code"])
    assert redeemed.status_code == 201, redeemed.text
    assert redeemed.json()["coupon"]["id"] == theirs["id"]
    state = await scalar(brand, "SELECT count(*) FROM redemptions WHERE brand_id = :brand_id", brand_id=brand.id)
    assert state == 0  # brand A's coupon of that code is untouched

    # Within one brand a code is still unique.
    second = await (await open_shop(other_brand)).claimed()
    with pytest.raises(IntegrityError, match="uq_coupons_brand_id_code"):
        await scalar(
            other_brand,
            "UPDATE coupons SET code = :code WHERE brand_id = :brand_id AND id = :id RETURNING id",
            code=normalize(ours["code"]),
            brand_id=other_brand.id,
            id=second["id"],
        )


async def test_a_row_cannot_point_at_another_brand_s_row(brand: BrandContext, other_brand: BrandContext) -> None:
    ours = await open_shop(brand)
    theirs = await open_shop(other_brand)
    # A fence state of brand B's member on brand A's fence: the foreign key joins brand_id too.
    with pytest.raises(IntegrityError, match="fk_fence_states_brand_id_fence_id_geofences"):
        await scalar(
            other_brand,
            "INSERT INTO fence_states (brand_id, member_id, fence_id, inside, dwell_fired, last_recorded_at)"
            " VALUES (:brand_id, :member_id, :fence_id, true, false, now()) RETURNING fence_id",
            brand_id=other_brand.id,
            member_id=theirs.scene.member["id"],
            fence_id=ours.fence["id"],
        )
    # A member referred by another brand's member.
    with pytest.raises(IntegrityError, match="fk_members_brand_id_referred_by_id_members"):
        await scalar(
            other_brand,
            "UPDATE members SET referred_by_id = :referrer WHERE brand_id = :brand_id AND id = :id RETURNING id",
            referrer=ours.scene.member["id"],
            brand_id=other_brand.id,
            id=theirs.scene.member["id"],
        )


async def test_a_key_is_routed_to_its_brand(brand: BrandContext, other_brand: BrandContext) -> None:
    secret = await brand.key("marketer")
    theirs = await other_brand.key("marketer")
    route = await scalar(
        brand,
        "SELECT brand_id FROM api_key_routes WHERE secret_hash = :h",
        h=hashlib.sha256(secret.encode()).digest(),
    )
    assert route == brand.id
    for context, key in ((brand, secret), (other_brand, theirs)):
        answer = await brand.client.get("/v1/brand", headers=brand.bearer(key))
        assert answer.status_code == 200
        assert answer.json()["id"] == str(context.id)


async def test_a_key_without_a_route_is_unknown(brand: BrandContext) -> None:
    """The route is the only way in: a key row whose route is gone cannot authenticate (and the brand's other
    keys still can)."""
    secret = await brand.key("marketer")
    await scalar(
        brand,
        "DELETE FROM api_key_routes WHERE secret_hash = :h RETURNING key_id",
        h=hashlib.sha256(secret.encode()).digest(),
    )
    refused = await brand.client.get("/v1/brand", headers=brand.bearer(secret))
    assert refused.status_code == 401
    assert (await brand.client.get("/v1/brand", headers=brand.admin)).status_code == 200
    async with brand.sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM api_keys WHERE brand_id = :b"), {"b": brand.id}) == 2
