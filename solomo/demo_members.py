"""Demo members: a few thousand profiles with social accounts, tiers, tags, consents and referral chains.

Generated deterministically and inserted with a handful of set-based statements (the per-request
service path would take a minute for this many); re-running adds nothing twice.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.members.referral_codes import new_referral_code

DEMO_MEMBER_COUNT = 3000
#: `solomo demo` prints these for trying the app by hand: they always consent (the others are random, as real
#: members are).
DEMO_TOUR_MEMBERS = ["demo-0001", "demo-0002", "demo-0003"]
_SURNAMES = [
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
]
_GIVEN = ["Wei", "Fang", "Min", "Jing", "Lei", "Jun", "Yan", "Hui", "Qiang", "Xin", "Ying", "Hao", "Lin", "Tao", "Na"]
_TAGS = ["coffee-lover", "student", "office", "night-owl", "family", "tea", "pastry", "weekend", "commuter", "vip"]
_TIERS = ["bronze", "bronze", "bronze", "silver", "silver", "gold", "platinum"]
#: (provider, share of members with an account there)
_PROVIDERS = [("wechat", 0.8), ("weibo", 0.2), ("douyin", 0.25), ("xiaohongshu", 0.15), ("qq", 0.1)]

_INSERT_MEMBERS = text(
    """
    INSERT INTO members (brand_id, external_id, display_name, phone, email, tier, tags, consent_location,
                         consent_location_at, consent_marketing, consent_marketing_at, referral_code, joined_at)
    SELECT :brand_id, u.external_id, u.display_name, u.phone, u.email, u.tier, string_to_array(u.tags, ','),
           u.location, CASE WHEN u.location THEN u.joined_at END,
           u.marketing, CASE WHEN u.marketing THEN u.joined_at END, u.code, u.joined_at
    FROM unnest(CAST(:external_ids AS text[]), CAST(:names AS text[]), CAST(:phones AS text[]),
                CAST(:emails AS text[]), CAST(:tiers AS text[]), CAST(:tags AS text[]), CAST(:locations AS bool[]),
                CAST(:marketings AS bool[]), CAST(:codes AS text[]), CAST(:joined AS timestamptz[]))
         AS u(external_id, display_name, phone, email, tier, tags, location, marketing, code, joined_at)
    ON CONFLICT (brand_id, external_id) DO NOTHING
    """
)
_LINK_REFERRERS = text(
    """
    UPDATE members m SET referred_by_id = r.id
    FROM unnest(CAST(:external_ids AS text[]), CAST(:referrers AS text[])) AS u(external_id, referrer)
    JOIN members r ON r.brand_id = :brand_id AND r.external_id = u.referrer
    WHERE m.brand_id = :brand_id AND m.external_id = u.external_id AND m.referred_by_id IS NULL
    """
)
_INSERT_ACCOUNTS = text(
    """
    INSERT INTO member_social_accounts (brand_id, member_id, provider, uid, handle, followers)
    SELECT :brand_id, m.id, u.provider, u.uid, u.handle, u.followers
    FROM unnest(CAST(:external_ids AS text[]), CAST(:providers AS text[]), CAST(:uids AS text[]),
                CAST(:handles AS text[]), CAST(:followers AS int[])) AS u(external_id, provider, uid, handle, followers)
    JOIN members m ON m.brand_id = :brand_id AND m.external_id = u.external_id
    ON CONFLICT (brand_id, provider, uid) DO NOTHING
    """
)
_INSERT_CONSENT_HISTORY = text(
    """
    INSERT INTO member_consent_events (brand_id, member_id, kind, granted, at)
    SELECT m.brand_id, m.id, c.kind, true, c.at
    FROM members m
    CROSS JOIN LATERAL (VALUES ('location', m.consent_location, m.consent_location_at),
                               ('marketing', m.consent_marketing, m.consent_marketing_at)) AS c(kind, granted, at)
    WHERE m.brand_id = :brand_id AND m.external_id LIKE 'demo-%' AND c.granted
      AND NOT EXISTS (SELECT 1 FROM member_consent_events e WHERE e.member_id = m.id AND e.kind = c.kind)
    """
)


def _followers(rng: random.Random) -> int:
    # Mostly small audiences, a long tail of key opinion leaders (the KOL board needs a few).
    return int(min(rng.lognormvariate(5.0, 2.0), 5_000_000))


def _generate(count: int, now: datetime) -> dict[str, list[Any]]:
    rng = random.Random(4242)  # noqa: S311 - a reproducible demo, nothing secret
    columns: dict[str, list[Any]] = {
        k: [] for k in ("external_ids", "names", "phones", "emails", "tiers", "tags", "locations", "marketings",
                        "codes", "joined", "ref_from", "ref_to", "acc_ext", "providers", "uids", "handles", "followers")
    }  # fmt: skip
    codes: set[str] = set()
    for n in range(1, count + 1):
        external_id = f"demo-{n:04d}"
        name = f"{rng.choice(_SURNAMES)} {rng.choice(_GIVEN)}"
        code = new_referral_code()
        while code in codes:
            code = new_referral_code()
        codes.add(code)
        columns["external_ids"].append(external_id)
        columns["names"].append(name)
        columns["phones"].append(f"+86138{rng.randrange(10**8):08d}" if rng.random() < 0.6 else None)
        columns["emails"].append(f"member{n}@demo.solomo.dev" if rng.random() < 0.4 else None)
        columns["tiers"].append(rng.choice(_TIERS))
        columns["tags"].append(",".join(sorted(rng.sample(_TAGS, rng.randint(0, 3)))))
        touring = external_id in DEMO_TOUR_MEMBERS
        columns["locations"].append(rng.random() < 0.9 or touring)
        columns["marketings"].append(rng.random() < 0.75 or touring)
        columns["codes"].append(code)
        columns["joined"].append(now - timedelta(days=730 * (count - n) / count, minutes=rng.randrange(1440)))
        if n > 10 and rng.random() < 0.3:  # referred by someone who joined earlier: chains, never cycles
            columns["ref_from"].append(external_id)
            columns["ref_to"].append(f"demo-{rng.randrange(1, n):04d}")
        for provider, share in _PROVIDERS:
            if rng.random() < share:
                columns["acc_ext"].append(external_id)
                columns["providers"].append(provider)
                columns["uids"].append(f"{provider}-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}")
                columns["handles"].append(f"{name.replace(' ', '').lower()}{n}")
                columns["followers"].append(_followers(rng))
    return columns


async def load_demo_members(session: AsyncSession, brand_id: uuid.UUID, count: int = DEMO_MEMBER_COUNT) -> None:
    present = await session.scalar(
        text("SELECT count(*) FROM members WHERE brand_id = :b AND external_id LIKE 'demo-%'"), {"b": brand_id}
    )
    if present and present >= count:
        return
    c = _generate(count, datetime.now(UTC).replace(microsecond=0))
    await session.execute(
        _INSERT_MEMBERS,
        {"brand_id": brand_id} | {k: c[k] for k in ("external_ids", "names", "phones", "emails", "tiers", "tags",
                                                     "locations", "marketings", "codes", "joined")},
    )  # fmt: skip
    await session.execute(
        _LINK_REFERRERS, {"brand_id": brand_id, "external_ids": c["ref_from"], "referrers": c["ref_to"]}
    )
    await session.execute(
        _INSERT_ACCOUNTS,
        {
            "brand_id": brand_id,
            "external_ids": c["acc_ext"],
            "providers": c["providers"],
            "uids": c["uids"],
            "handles": c["handles"],
            "followers": c["followers"],
        },
    )
    await session.execute(_INSERT_CONSENT_HISTORY, {"brand_id": brand_id})
