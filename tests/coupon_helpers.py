"""A shop with a running offer and a member made eligible by a real check-in: shared by the coupon tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from tests.conftest import BrandContext
from tests.scenes import PARIS, Scene, offset
from tests.test_offer_eligibility import fence_at, offer, shop, visit
from tests.test_offers_crud import campaign


@dataclass
class Shop:
    scene: Scene
    campaign: dict[str, Any]
    offer: dict[str, Any]
    fence: dict[str, Any]

    @property
    def brand(self) -> BrandContext:
        return self.scene.brand

    async def claim(self, headers: dict[str, str] | None = None, **body: Any) -> Any:
        return await self.brand.client.post(
            f"/v1/offers/{self.offer['id']}/claims", json=body or None, headers=headers or self.scene.headers
        )

    async def claimed(self, **body: Any) -> dict[str, Any]:
        answer = await self.claim(**body)
        assert answer.status_code == 201, answer.text
        coupon: dict[str, Any] = answer.json()
        return coupon

    async def revisit(self) -> None:
        """Leave the store and come back, two minutes each way: a fresh grant of an offer that grants on every
        visit (a grant is claimed once)."""
        await self.scene.ok(*offset(*PARIS, 0, 1000), after_s=120)
        back = await self.scene.ok(*PARIS, after_s=120)
        assert self.offer["id"] in {o["offer_id"] for o in back["offers"]}, back

    async def redeem(self, code: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
        return await self.brand.client.post(
            "/v1/redemptions",
            json={"code": code, "store_id": self.scene.store["id"]} | body,
            headers=headers or self.brand.admin,
        )


async def open_shop(brand: BrandContext, *, eligible: bool = True, **offer_fields: Any) -> Shop:
    """A store with a fence, an active campaign and an offer; the scene's member checked in (eligible)."""
    scene = await shop(brand)
    fence = await fence_at(scene)
    running = await campaign(brand)
    created = await offer(scene, running["id"], **offer_fields)
    if eligible:
        result = await visit(scene)
        assert created["id"] in {o["offer_id"] for o in result["offers"]}, result
    return Shop(scene, running, created, fence)


async def scalar(brand: BrandContext, sql: str, **params: Any) -> Any:
    """One statement, committed (tests use it to read state, and to move clocks back)."""
    async with brand.sessions() as session, session.begin():
        return await session.scalar(text(sql), params)
