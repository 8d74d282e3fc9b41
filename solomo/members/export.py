"""The member export (GDPR/PIPL access request): everything held about one member, streamed as one JSON document.

The profile, consents, referrals and coupons are small and rendered in Python (``MemberExportHead``); the
histories that grow without bound (check-ins with their fence matches, fence states, eligibility, impressions,
redemptions, first visits, idempotency records) follow as JSON arrays read in keyset pages of ``PAGE`` rows,
each row rendered as JSON by PostgreSQL, so a member with years of check-ins costs the same memory as one
with a day's. Rows are exported whole (``to_jsonb`` of the row, less the tenant and member ids), so a column
added later is exported without touching this file; coordinates come as GeoJSON, and raw ones only while the
brand's retention keeps them (then ``location`` is null and ``coarse_location`` remains). Asked for in GCJ-02 or
BD-09 (``crs``), the rows that hold coordinates are decoded and their points converted, a page in one pass.

All the pages are read in one REPEATABLE READ transaction of the request's own session, so the document is
one snapshot; the stream closes the session when it ends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Final

import msgspec
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.coordinates import coordinates_in
from solomo.geo.crs import WGS84_CRS, Crs
from solomo.members.schemas import MemberExportHead

#: Rows read per statement and sent per chunk.
PAGE: Final = 500
_FIRST_AT = datetime(1, 1, 1, tzinfo=UTC)
_FIRST_ID = uuid.UUID(int=0)


def _page(select: str, source: str, owner: str, at: str, row_id: str) -> TextClause:
    """A keyset page of one history: the member's rows of ``source`` (those ``owner`` admits) after
    (``:after_at``, ``:after_id``) in (at, id) order."""
    return text(
        f"""
        SELECT {at} AS at, {row_id} AS id, CAST({select} AS text) AS doc
        FROM {source}
        WHERE {owner} AND ({at}, {row_id}) > (:after_at, :after_id)
        ORDER BY 1, 2
        LIMIT :page
        """
    )


#: Each history: its name in the document, and its page query (bind brand_id, member_id).
HISTORIES: Final[list[tuple[str, TextClause]]] = [
    (
        "checkins",
        _page(
            """(to_jsonb(c) - 'brand_id' - 'member_id' - 'location' - 'coarse_location') || jsonb_build_object(
                   'location', CAST(ST_AsGeoJSON(c.location) AS jsonb),
                   'coarse_location', CAST(ST_AsGeoJSON(c.coarse_location) AS jsonb),
                   'matches', coalesce(
                       (SELECT jsonb_agg(to_jsonb(m) - 'brand_id' - 'member_id' - 'checkin_id' - 'recorded_at'
                                         ORDER BY m.fence_id)
                        FROM checkin_matches m WHERE m.checkin_id = c.id AND m.recorded_at = c.recorded_at),
                       '[]'))""",
            "checkins c",
            "c.brand_id = :brand_id AND c.member_id = :member_id",
            "c.recorded_at",
            "c.id",
        ),
    ),
    (
        "fence_states",
        _page(
            "to_jsonb(f) - 'brand_id' - 'member_id'",
            "fence_states f",
            "f.brand_id = :brand_id AND f.member_id = :member_id",
            "f.last_recorded_at",
            "f.fence_id",
        ),
    ),
    (
        "eligibility",
        _page(
            "to_jsonb(e) - 'brand_id' - 'member_id'",
            "offer_eligibility e",
            "e.brand_id = :brand_id AND e.member_id = :member_id",
            "e.granted_at",
            "e.offer_id",
        ),
    ),
    (
        "impressions",
        _page(
            "to_jsonb(i) - 'brand_id' - 'member_id'",
            "offer_impressions i",
            "i.brand_id = :brand_id AND i.member_id = :member_id",
            "i.shown_at",
            "i.offer_id",
        ),
    ),
    (
        "redemptions",
        # The staff key that redeemed is the brand's business, not the member's data.
        _page(
            "to_jsonb(r) - 'brand_id' - 'key_id' - 'voided_by_key_id'",
            "redemptions r JOIN coupons c ON c.brand_id = r.brand_id AND c.id = r.coupon_id",
            "c.brand_id = :brand_id AND c.member_id = :member_id",
            "r.redeemed_at",
            "r.id",
        ),
    ),
    (
        "claim_counters",
        _page(
            "to_jsonb(s) - 'brand_id' - 'member_id'",
            "member_offer_claims s",
            "s.brand_id = :brand_id AND s.member_id = :member_id",
            "CAST(:first_at AS timestamptz)",
            "s.offer_id",
        ),
    ),
    (
        "first_visits",
        _page(
            "to_jsonb(v) - 'brand_id' - 'member_id'",
            "member_firsts v",
            "v.brand_id = :brand_id AND v.member_id = :member_id",
            "v.first_at",
            "v.store_key",
        ),
    ),
    (
        "idempotency_records",
        # That a request was kept for replay, not the answer stored with it (the other sections hold that data).
        _page(
            "jsonb_build_object('method', k.method, 'key', k.key, 'status_code', k.status_code,"
            " 'created_at', k.created_at)",
            "idempotency_keys k",
            "k.brand_id = :brand_id AND k.caller = :caller",
            "k.created_at",
            "CAST(md5(k.method || ' ' || k.key) AS uuid)",
        ),
    ),
]


#: The histories whose rows hold GeoJSON geometries, and in which fields.
GEOMETRY_FIELDS: Final[dict[str, tuple[str, ...]]] = {"checkins": ("location", "coarse_location")}


def docs_in(crs: Crs, fields: tuple[str, ...], docs: list[str]) -> list[str]:
    """Rows rendered as JSON by PostgreSQL (in WGS-84), their ``fields``' geometries given in ``crs``."""
    if crs == WGS84_CRS or not fields:
        return docs
    rows = [msgspec.json.decode(doc) for doc in docs]
    geometries = [row[field] for row in rows for field in fields if row.get(field)]
    converted = coordinates_in(crs, [geometry["coordinates"] for geometry in geometries])
    for geometry, coordinates in zip(geometries, converted, strict=True):
        geometry["coordinates"] = coordinates
    return [msgspec.json.encode(row).decode() for row in rows]


async def stream_export(
    session: AsyncSession,
    brand_id: uuid.UUID,
    member_id: uuid.UUID,
    head: Callable[[], Awaitable[MemberExportHead]],
    crs: Crs = WGS84_CRS,
) -> AsyncIterator[bytes]:
    """The document, in chunks: ``head()`` (read in the snapshot), then each history as a JSON array, its
    coordinates in ``crs``."""
    try:
        await session.commit()  # whatever the request did before, the export reads from a snapshot of its own
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True})
        opening = msgspec.json.encode(await head())
        yield opening[:-1]  # the histories go inside the same object
        for name, query in HISTORIES:
            yield b',"' + name.encode() + b'":['
            after_at, after_id, separator = _FIRST_AT, _FIRST_ID, b""
            while True:
                rows = (
                    await session.execute(
                        query,
                        {
                            "brand_id": brand_id,
                            "member_id": member_id,
                            "caller": str(member_id),  # how solomo/idempotency.py names a member caller
                            "after_at": after_at,
                            "after_id": after_id,
                            "first_at": _FIRST_AT,
                            "page": PAGE,
                        },
                    )
                ).all()
                if rows:
                    docs = docs_in(crs, GEOMETRY_FIELDS.get(name, ()), [row.doc for row in rows])
                    yield separator + ",".join(docs).encode()
                    separator = b","
                if len(rows) < PAGE:
                    break
                after_at, after_id = rows[-1].at, rows[-1].id
            yield b"]"
        yield b"}"
    finally:
        await session.close()
