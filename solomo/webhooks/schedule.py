"""When a failed message is tried again, and when an endpoint has failed long enough to be disabled.

Attempt 1 goes out as soon as the message exists; after a failed attempt n the next one waits ``DELAYS_S[n-1]``
(5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 8 attempts over about 28 hours), each delay moved by up to ±10 %
so that the messages of an endpoint that was down do not all come back in the same second. An answer's
``Retry-After`` (seconds, or an HTTP date) is honoured when it asks for longer than the schedule, up to 10 hours:
a receiver cannot park a message for days, and the schedule's own longest wait is 10 hours too. After the 8th
failed attempt the message is ``failed``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

DELAYS_S: tuple[int, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(DELAYS_S) + 1
JITTER = 0.10
RETRY_AFTER_CAP_S = 10 * 3600
#: An endpoint whose attempts have all failed for this long (since the first failure after a success) is disabled.
FAILING_LIMIT = timedelta(days=5)


def retry_delay(
    attempts_made: int, retry_after_s: float | None = None, *, rand: Callable[[], float] = random.random
) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` failed ones, or None when none is left."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    base = DELAYS_S[max(attempts_made, 1) - 1]
    delay = base * (1 + JITTER * (2 * rand() - 1))
    if retry_after_s is not None and retry_after_s > delay:
        delay = min(retry_after_s, RETRY_AFTER_CAP_S)
    return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or an HTTP date), or None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
