"""IANA time-zone validation shared by brands and stores."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from solomo.errors import invalid


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str, field: str = "timezone") -> str:
    if name not in _known():
        raise invalid(field, f"{name!r} is not an IANA time zone (for example Europe/Paris)")
    return name
