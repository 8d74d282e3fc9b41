"""Per-caller request budgets: a leaky bucket per API key and per member, shared by every worker and host.

Each request adds one to its caller's level, which drains at ``per_second``; a request that would lift the
level above ``burst`` is refused with 429, and does not count. The level lives in the UNLOGGED table
``request_budgets``, charged by the SQL function ``solomo_charge_budget`` (``solomo/ops/sql/charge_budget.sql``).
The auth middleware calls it in the statement that looks the credential up (one round trip), run in autocommit
before the request's transaction begins: the budget row's lock lasts that statement only, and the charge outlives
the rollback of a request that fails. The hot routes call it inside their one statement (``solomo/hot``): a
member's budget row while the member row is locked anyway, an API key's at the end of the statement, so that
the key's busy row is locked only while the statement commits. A transaction that wrote only to an UNLOGGED
table commits without waiting for a WAL flush, so the commit is cheap without ``SET LOCAL synchronous_commit
= off`` (measured with fsync on: the key look-up alone 0.28 ms, with the charge and its commit 0.4-0.6 ms, the
same charge on a logged table 3.7 ms; ``SET LOCAL`` costs a round trip of its own and saved nothing).

Answers say where the caller stands with the IETF draft's headers (draft-ietf-httpapi-ratelimit-headers):
``RateLimit-Policy: "key";q=1000;w=10`` (``q`` requests, restored within ``w`` seconds) and
``RateLimit: "key";r=998;t=1`` (``r`` requests left now, the bucket empty again in ``t`` seconds); a 429
adds ``Retry-After``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS

from solomo.errors import ApiError


def member_subject(member_id: object) -> str:
    """How a member token's budget is named (an API key's is ``key:<id>``)."""
    return f"member:{member_id}"


@dataclass(frozen=True, slots=True)
class Budget:
    """``burst`` requests at once, then ``per_second`` requests a second, per caller of one kind."""

    policy: str
    burst: int
    per_second: int

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_second < 1:
            msg = f"the {self.policy} request budget needs a burst and a rate of at least 1"
            raise ValueError(msg)

    @property
    def params(self) -> dict[str, int]:
        return {"burst": self.burst, "rate": self.per_second}

    def _policy_header(self) -> str:
        return f'"{self.policy}";q={self.burst};w={math.ceil(self.burst / self.per_second)}'

    def admit(self, charged: float | None, level: float | None) -> dict[str, str]:
        """The headers for an admitted request (``charged``: its new level), or a 429 for a refused one
        (``charged`` None; ``level``: where it stood)."""
        if charged is not None:
            left = max(0, math.floor(self.burst - charged))
            return {
                "RateLimit-Policy": self._policy_header(),
                "RateLimit": f'"{self.policy}";r={left};t={math.ceil(charged / self.per_second)}',
            }
        wait = max(1, math.ceil(((level or self.burst) + 1 - self.burst) / self.per_second))
        raise ApiError(
            HTTP_429_TOO_MANY_REQUESTS,
            "rate_limited",
            f"This {self.policy} sent more than {self.burst} requests at once or {self.per_second} a second "
            f"for too long: try again in {wait} s",
            headers={
                "Retry-After": str(wait),
                "RateLimit-Policy": self._policy_header(),
                "RateLimit": f'"{self.policy}";r=0;t={wait}',
            },
        )
