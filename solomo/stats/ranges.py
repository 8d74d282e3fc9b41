"""The date range of a stats query: ISO dates in the brand's time zone, both ends included."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.errors import invalid
from solomo.stats.rollups import READ_WAIT_MS

MAX_DAYS = 400
DEFAULT_DAYS = 30
#: Stats days outside these years hold nothing, and near date.min/date.max the range arithmetic would overflow.
EARLIEST = date(1970, 1, 1)
LATEST = date(2999, 12, 31)

_BRAND_CLOCK = "SELECT b.timezone, (now() AT TIME ZONE b.timezone)::date AS today{fold} FROM brands b WHERE b.id = :id"
_CLOCK = {
    False: text(_BRAND_CLOCK.format(fold="")),
    # The read's fold rides in the same statement, and commits with the request (no round trips of its own).
    True: text(_BRAND_CLOCK.format(fold=", solomo_stats_fold(b.id, :wait_ms) AS folded")),
}


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date  # included
    timezone: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """The instants the range covers: from the start day's local midnight to the one after the end day."""
        zone = ZoneInfo(self.timezone)
        return (
            datetime.combine(self.start, time(), zone),
            datetime.combine(self.end + timedelta(days=1), time(), zone),
        )


async def stats_range(
    session: AsyncSession,
    brand_id: uuid.UUID,
    start: date | None,
    end: date | None,
    *,
    max_days: int = MAX_DAYS,
    fold: bool = False,
) -> DateRange:
    """The range asked for; by default the 30 days through today (brand-local), or 30 days from or to the end given.

    ``fold``: fold the brand's stats journal into the rollups first, for reads of the rollups.
    """
    for name, day in (("from", start), ("to", end)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise invalid(name, f"must be between {EARLIEST} and {LATEST}", source="query")
    params: dict[str, object] = {"id": brand_id} | ({"wait_ms": READ_WAIT_MS} if fold else {})
    row = (await session.execute(_CLOCK[fold], params)).one()
    if start is None and end is None:
        end = row.today
    if start is None:
        assert end is not None
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if end is None:
        end = start + timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise invalid("to", f"to ({end}) is before from ({start})", source="query")
    days = (end - start).days + 1
    if days > max_days:
        raise invalid("to", f"the range covers {days} days, more than {max_days}", source="query")
    return DateRange(start, end, row.timezone)
