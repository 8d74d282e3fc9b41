"""Numbers in error messages: short, but never misleading."""

from __future__ import annotations


def number(x: float) -> str:
    """``190`` rather than ``190.0``; 15 digits so ``180.0000001`` does not read as an in-range ``180``."""
    return f"{x:.15g}"


def exceeding(value: float, limit: float) -> str:
    """``value`` to one decimal, or more when one decimal would make it read as not above ``limit``."""
    for digits in (1, 3, 6):
        text = f"{value:,.{digits}f}"
        if float(text.replace(",", "")) > limit:
            return text
    return number(value)
