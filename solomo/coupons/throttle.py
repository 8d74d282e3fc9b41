"""The throttle on failed coupon-code look-ups, per caller (API key), so codes cannot be guessed.

Each failure adds one to a level that drains by one every ``DRAIN_SECONDS`` (the SQL functions
``solomo_record_code_failure`` and ``solomo_code_throttle_level``, in ``solomo/coupons/sql/``). ``BURST`` failures
in quick succession are allowed; while the level stays above ``BURST - 1``, look-ups and redemptions by that caller
answer 429 with Retry-After, even for a good code. A failure is recorded on the request's own session and
committed before the error is raised: the failed look-up wrote nothing else, and the count must outlive the
rollback that follows the error. (It once took a second pooled connection, and parallel guesses from one key
held the whole pool while waiting for it.) The level lives in PostgreSQL, so every worker and host shares it.
"""

from __future__ import annotations

import math
import uuid

from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.errors import ApiError

BURST = 10
DRAIN_SECONDS = 6.0

#: The caller's current level (NULL: no failures), as a scalar subquery. The till's own statements embed it,
#: so the throttle costs no round trip of its own; bind ``brand_id``, ``caller`` and ``THROTTLE_PARAMS``.
LEVEL_SQL = "solomo_code_throttle_level(:brand_id, :caller, :drain)"
#: In SQL, a level is still allowed while ``coalesce(level, 0) <= :last_allowed``.
THROTTLE_PARAMS = {"drain": DRAIN_SECONDS, "last_allowed": BURST - 1}
_LEVEL = text(f"SELECT {LEVEL_SQL}")
_FAIL = text("SELECT solomo_record_code_failure(:brand_id, :caller, :drain)")


def refuse_if_throttled(level: float | None) -> None:
    """A level read with ``LEVEL_SQL``: 429 with Retry-After while it is above ``BURST - 1``."""
    if level is not None and level > BURST - 1:
        wait = max(1, math.ceil((float(level) - (BURST - 1)) * DRAIN_SECONDS))
        raise ApiError(
            HTTP_429_TOO_MANY_REQUESTS,
            "too_many_failed_codes",
            f"Too many unknown coupon codes from this key: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


class CodeGuard:
    async def check(self, session: AsyncSession, brand_id: uuid.UUID, caller: str) -> None:
        """For paths with no statement of their own to embed ``LEVEL_SQL`` in."""
        refuse_if_throttled(await session.scalar(_LEVEL, {"brand_id": brand_id, "caller": caller} | THROTTLE_PARAMS))

    async def failed(self, session: AsyncSession, brand_id: uuid.UUID, caller: str) -> None:
        """Count a failure and commit it: call only when the request has written nothing else."""
        await session.execute(_FAIL, {"brand_id": brand_id, "caller": caller, "drain": DRAIN_SECONDS})
        await session.commit()
