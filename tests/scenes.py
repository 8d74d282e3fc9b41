"""A brand with a consenting member, a store and helpers to check in: shared by the check-in and offer tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from pyproj import Geod
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import BrandContext

GEOD = Geod(ellps="WGS84")
PARIS = (2.3522, 48.8566)


def offset(lon: float, lat: float, bearing: float, metres: float) -> tuple[float, float]:
    to_lon, to_lat, _ = GEOD.fwd(lon, lat, bearing, metres)
    return float(to_lon), float(to_lat)


class Scene:
    """A brand with a member (consents given), a store, and helpers to check in."""

    def __init__(self, brand: BrandContext, member: dict[str, Any], token: str, store: dict[str, Any]) -> None:
        self.brand = brand
        self.member = member
        self.headers = brand.bearer(token)
        self.store = store
        self.clock = datetime.now(UTC) - timedelta(hours=2)

    async def fence(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.brand.client.post(
            f"/v1/stores/{self.store['id']}/geofences", json={"name": "f"} | body, headers=self.brand.admin
        )
        assert answer.status_code == 201, answer.text
        fence: dict[str, Any] = answer.json()
        return fence

    async def checkin(
        self, lon: float, lat: float, *, accuracy: float = 5, after_s: float = 60, crs: str | None = None, **extra: Any
    ) -> Any:
        self.clock += timedelta(seconds=after_s)
        body = {
            "location": {"type": "Point", "coordinates": [lon, lat]},
            "accuracy_m": accuracy,
            "recorded_at": self.clock.isoformat(),
        } | extra
        params = {"crs": crs} if crs is not None else None
        return await self.brand.client.post("/v1/checkins", json=body, headers=self.headers, params=params)

    async def ok(self, lon: float, lat: float, **kwargs: Any) -> dict[str, Any]:
        answer = await self.checkin(lon, lat, **kwargs)
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result


async def make_scene(brand: BrandContext, *, consent: bool = True, interval_s: int = 0) -> Scene:
    await brand.client.patch("/v1/brand", json={"checkin_min_interval_s": interval_s}, headers=brand.admin)
    member = await brand.client.post(
        "/v1/members",
        json={"external_id": "walker", "consent": {"location": consent, "marketing": consent}},
        headers=brand.admin,
    )
    token = await brand.member_token(member.json()["id"])
    return Scene(brand, member.json(), token, await brand.store(*PARIS))


@contextmanager
def statements_sent(app: Litestar) -> Iterator[list[str]]:
    """Every statement the app sends while the block runs, BEGIN and COMMIT included, on the engine and on the hot
    routes' statement pool (to hold hot paths to their round trips)."""
    from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin

    from solomo.hot.callers import HOT_STATE

    engine: AsyncEngine = app.plugins.get(SQLAlchemyPlugin).config[0].get_engine()  # type: ignore[assignment]
    pool = app.state[HOT_STATE].pool
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    def begin(*_: Any) -> None:
        statements.append("BEGIN")

    def commit(*_: Any) -> None:
        statements.append("COMMIT")

    listeners = [("before_cursor_execute", count), ("begin", begin), ("commit", commit)]
    for name, listener in listeners:
        event.listen(engine.sync_engine, name, listener)
    pool.observers.append(statements.append)
    try:
        yield statements
    finally:
        pool.observers.remove(statements.append)
        for name, listener in listeners:
            event.remove(engine.sync_engine, name, listener)
