"""Check-ins read back (listings), and what members' erasure and merge do to them. Recording one is the hot
route's single statement (solomo/checkins/request.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.principal import Principal
from solomo.checkins.schemas import (
    CheckinOut,
    CheckinPage,
    FenceExit,
    FenceMatch,
)
from solomo.db.sql import sql_with_uuids
from solomo.errors import invalid
from solomo.geo.geojson import Point
from solomo.pagination import decode_time_id, split_page

MAX_AHEAD = timedelta(minutes=5)
MAX_AGE = timedelta(hours=24)

_LIST = text(
    """
    SELECT c.id, c.recorded_at, c.received_at, ST_X(c.location::geometry) AS lon, ST_Y(c.location::geometry) AS lat,
           ST_X(c.coarse_location::geometry) AS coarse_lon, ST_Y(c.coarse_location::geometry) AS coarse_lat,
           c.accuracy_m, c.mocked, c.source, c.flags,
           coalesce((SELECT jsonb_agg(jsonb_build_object('fence_id', m.fence_id, 'store_id', m.store_id,
                                                         'event', m.event) ORDER BY m.fence_id)
                     FROM checkin_matches m WHERE m.checkin_id = c.id), '[]')::text AS matches
    FROM checkins c
    WHERE c.brand_id = :brand_id AND c.member_id = :member_id
      AND (CAST(:at AS timestamptz) IS NULL OR (c.recorded_at, c.id) < (CAST(:at AS timestamptz), CAST(:after AS uuid)))
    ORDER BY c.recorded_at DESC, c.id DESC
    LIMIT :limit
    """
)


class _Match(msgspec.Struct):
    fence_id: uuid.UUID
    store_id: uuid.UUID
    event: str | None


_MATCHES = msgspec.json.Decoder(list[_Match])


def check_recorded_at(recorded_at: datetime, now: datetime) -> None:
    if recorded_at > now + MAX_AHEAD:
        raise invalid("recorded_at", "is more than 5 minutes in the future (check the device clock)")
    if recorded_at < now - MAX_AGE:
        raise invalid("recorded_at", "is more than 24 hours old: too late to count")


class CheckinService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.brand_id = principal.brand_id
        self.principal = principal

    async def page(self, member_id: uuid.UUID, *, limit: int, cursor: str | None) -> CheckinPage:
        at, after = decode_time_id(cursor) if cursor else (None, None)
        rows = (
            await self.session.execute(
                _LIST,
                {"brand_id": self.brand_id, "member_id": member_id, "at": at, "after": after, "limit": limit + 1},
            )
        ).all()
        page, next_cursor = split_page(rows, limit, at=lambda r: r.recorded_at)
        return CheckinPage(items=[_checkin_out(r) for r in page], next_cursor=next_cursor)

    async def store_has_visits(self, store_id: uuid.UUID) -> bool:
        """Whether any check-in matched one of the store's fences (history that deleting would orphan)."""
        found = await self.session.scalar(
            text("SELECT EXISTS (SELECT 1 FROM checkin_matches WHERE brand_id = :brand_id AND store_id = :store_id)"),
            {"brand_id": self.brand_id, "store_id": store_id},
        )
        return bool(found)

    # -- member lifecycle (called by the members service) -----------------------------------
    async def erase_members(self, member_ids: Sequence[uuid.UUID]) -> None:
        """Erasure: coordinates, fence state and idempotency records go; matches and flags stay (anonymous)."""
        params = {"brand_id": self.brand_id, "ids": list(member_ids)}
        for statement in _ERASE:
            await self.session.execute(statement, params)

    async def merge_members(self, survivor: uuid.UUID, merged: uuid.UUID) -> None:
        params = {"brand_id": self.brand_id, "survivor": survivor, "merged": merged}
        for statement in _MERGE:
            await self.session.execute(statement, params)


_ERASE = [
    sql_with_uuids(
        "UPDATE checkins SET location = NULL, coarse_location = NULL, source = NULL"
        " WHERE brand_id = :brand_id AND member_id = ANY(:ids)",
        "ids",
    ),
    sql_with_uuids("DELETE FROM fence_states WHERE brand_id = :brand_id AND member_id = ANY(:ids)", "ids"),
    sql_with_uuids(
        "DELETE FROM idempotency_keys"
        " WHERE brand_id = :brand_id AND caller = ANY(CAST(CAST(:ids AS uuid[]) AS text[]))",
        "ids",
    ),
]
_MERGE = [
    text("UPDATE checkins SET member_id = :survivor WHERE brand_id = :brand_id AND member_id = :merged"),
    text("UPDATE checkin_matches SET member_id = :survivor WHERE brand_id = :brand_id AND member_id = :merged"),
    # Where both were inside the same fence, the survivor's state stands.
    text(
        "DELETE FROM fence_states f WHERE f.brand_id = :brand_id AND f.member_id = :merged AND EXISTS"
        " (SELECT 1 FROM fence_states s WHERE s.member_id = :survivor AND s.fence_id = f.fence_id)"
    ),
    text("UPDATE fence_states SET member_id = :survivor WHERE brand_id = :brand_id AND member_id = :merged"),
    text("DELETE FROM idempotency_keys WHERE brand_id = :brand_id AND caller = CAST(CAST(:merged AS uuid) AS text)"),
    # First visits: the earlier of the two stands, so later check-ins are not counted as new. Stats already
    # counted both members as new (rollups are not rewritten; `rebuild-stats` recounts from the merged rows).
    text(
        "DELETE FROM member_firsts f WHERE f.member_id = :merged AND EXISTS (SELECT 1 FROM member_firsts s"
        " WHERE s.member_id = :survivor AND s.store_key = f.store_key AND s.first_at <= f.first_at)"
    ),
    text(
        "DELETE FROM member_firsts s WHERE s.member_id = :survivor AND EXISTS (SELECT 1 FROM member_firsts f"
        " WHERE f.member_id = :merged AND f.store_key = s.store_key)"
    ),
    text("UPDATE member_firsts SET member_id = :survivor WHERE brand_id = :brand_id AND member_id = :merged"),
]


def _checkin_out(row: Any) -> CheckinOut:
    matches = _MATCHES.decode(row.matches)
    return CheckinOut(
        id=row.id,
        recorded_at=row.recorded_at,
        received_at=row.received_at,
        location=Point(coordinates=[row.lon, row.lat]) if row.lon is not None else None,
        coarse_location=Point(coordinates=[row.coarse_lon, row.coarse_lat]) if row.coarse_lon is not None else None,
        accuracy_m=row.accuracy_m,
        mocked=row.mocked,
        source=row.source,
        flags=list(row.flags),
        matches=[FenceMatch(m.fence_id, m.store_id, m.event) for m in matches if m.event != "exit"],  # type: ignore[arg-type]
        exits=[FenceExit(m.fence_id, m.store_id) for m in matches if m.event == "exit"],
    )
