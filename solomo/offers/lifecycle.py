"""What other domains' changes do to offers: member merge and erasure, deleted stores and geofences.

Impressions are counts for stats: erasure keeps them on the anonymous tombstone. Eligibility is a live
grant: erasure drops it. Merging moves both to the survivor, keeping the longer grant and one
impression per offer and day.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.db.sql import uuids

_MERGE = [
    text(
        """
        UPDATE offer_eligibility s
           SET eligible_until = greatest(s.eligible_until, m.eligible_until)
          FROM offer_eligibility m
         WHERE s.member_id = :survivor AND m.member_id = :merged AND s.offer_id = m.offer_id
           AND s.brand_id = :brand_id AND m.brand_id = :brand_id
        """
    ),
    text(
        "DELETE FROM offer_eligibility m WHERE m.brand_id = :brand_id AND m.member_id = :merged AND EXISTS"
        " (SELECT 1 FROM offer_eligibility s WHERE s.member_id = :survivor AND s.offer_id = m.offer_id)"
    ),
    text("UPDATE offer_eligibility SET member_id = :survivor WHERE brand_id = :brand_id AND member_id = :merged"),
    text(
        "DELETE FROM offer_impressions m WHERE m.brand_id = :brand_id AND m.member_id = :merged AND EXISTS"
        " (SELECT 1 FROM offer_impressions s"
        "  WHERE s.member_id = :survivor AND s.offer_id = m.offer_id AND s.day = m.day)"
    ),
    text("UPDATE offer_impressions SET member_id = :survivor WHERE brand_id = :brand_id AND member_id = :merged"),
]
_ERASE = text("DELETE FROM offer_eligibility WHERE brand_id = :brand_id AND member_id = ANY(:ids)").bindparams(
    uuids("ids")
)


async def merge_member_offers(
    session: AsyncSession, brand_id: uuid.UUID, survivor: uuid.UUID, merged: uuid.UUID
) -> None:
    for statement in _MERGE:
        await session.execute(statement, {"brand_id": brand_id, "survivor": survivor, "merged": merged})


async def erase_member_offers(session: AsyncSession, brand_id: uuid.UUID, member_ids: Sequence[uuid.UUID]) -> None:
    await session.execute(_ERASE, {"brand_id": brand_id, "ids": list(member_ids)})


_FORGET_STORE = text(
    """
    WITH fences AS (
        SELECT coalesce(array_agg(id), '{}') AS ids FROM geofences WHERE brand_id = :brand_id AND store_id = :id
    )
    UPDATE offers o
       SET store_ids = array_remove(o.store_ids, :id),
           geofence_ids = ARRAY(SELECT f FROM unnest(o.geofence_ids) AS f WHERE f <> ALL(fences.ids)),
           updated_at = now()
      FROM fences
     WHERE o.brand_id = :brand_id AND (:id = ANY(o.store_ids) OR o.geofence_ids && fences.ids)
    """
)
_FORGET_GEOFENCE = text(
    "UPDATE offers SET geofence_ids = array_remove(geofence_ids, :id), updated_at = now()"
    " WHERE brand_id = :brand_id AND :id = ANY(geofence_ids)"
)


async def forget_store(session: AsyncSession, brand_id: uuid.UUID, store_id: uuid.UUID) -> None:
    """A store about to be deleted leaves the offers that targeted it or its fences (an offer left with no
    place serves nowhere)."""
    await session.execute(_FORGET_STORE, {"brand_id": brand_id, "id": store_id})


async def forget_geofence(session: AsyncSession, brand_id: uuid.UUID, fence_id: uuid.UUID) -> None:
    await session.execute(_FORGET_GEOFENCE, {"brand_id": brand_id, "id": fence_id})
