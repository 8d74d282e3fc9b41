"""Demo data: a brand with fixed, documented keys, so the README tour can be pasted as it is.

Loading is idempotent: running it again finds the demo brand and adds nothing twice. Each later issue
adds its own demo data here.
"""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.schemas import ApiKeyCreate
from solomo.auth.secrets import hash_secret
from solomo.auth.service import ApiKeyService
from solomo.brands.service import BrandService
from solomo.db.models import ApiKey
from solomo.members.schemas import MemberUpsert
from solomo.members.service import MemberService

DEMO_BRAND = "SoLoMo Demo Coffee"
DEMO_TIMEZONE = "Asia/Shanghai"
#: Demo-only secrets, printed by `solomo demo` and quoted in the README. Never use them for a real brand.
DEMO_KEYS = {
    "admin": "sk_demo_admin_key",
    "marketer": "sk_demo_marketer_key",
}


class DemoInfo(msgspec.Struct):
    brand_id: uuid.UUID
    keys: dict[str, str]
    member_ids: list[uuid.UUID]


async def load_demo(session: AsyncSession) -> DemoInfo:
    brands = BrandService(session)
    brand = await brands.find_by_name(DEMO_BRAND)
    if brand is None:
        brand, _ = await brands.create(DEMO_BRAND, timezone=DEMO_TIMEZONE, admin_secret=DEMO_KEYS["admin"])
    keys = ApiKeyService(session, brand.id)
    for role, secret in DEMO_KEYS.items():
        known = await session.scalar(select(ApiKey.id).where(ApiKey.secret_hash == hash_secret(secret)))
        if known is None:
            await keys.create(ApiKeyCreate(name=f"demo {role} key", role=role), secret=secret)  # type: ignore[arg-type]
        else:
            # A demo key revoked while playing with the API comes back with the demo.
            await session.execute(text("UPDATE api_keys SET revoked_at = NULL WHERE id = :id"), {"id": known})
    members = MemberService(session, brand.id)
    member_ids = []
    for n, name in enumerate(["Li Wei", "Wang Fang", "Zhang Min"], start=1):
        member, _ = await members.upsert(MemberUpsert(external_id=f"demo-{n:04d}", display_name=name))
        member_ids.append(member.id)
    return DemoInfo(brand_id=brand.id, keys=dict(DEMO_KEYS), member_ids=member_ids)
