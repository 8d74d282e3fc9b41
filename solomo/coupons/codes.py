"""Coupon and share codes: random, human-typable Crockford base32 with a check character.

A coupon code is 11 random symbols (55 bits, from ``secrets``) and a Luhn mod 32 check symbol, shown as
``XXXX-XXXX-XXXX``. Crockford's alphabet has no I, L, O or U, and reading a code forgives what people
type: lower case, hyphens and spaces, O for 0, I or L for 1. The check symbol catches every single
mistyped symbol and most swaps of neighbours, so a typo at the till gets "check the code" rather than
a look-up. It is no defence against guessing: that is the 55 bits and the throttle on failed look-ups.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
COUPON_SYMBOLS = 11
SHARE_SYMBOLS = 10


def check_symbol(payload: str) -> str:
    """Luhn mod 32 over Crockford symbols (the symbol that makes the whole code's weighted sum 0)."""
    total = 0
    factor = 2
    for symbol in reversed(payload):
        addend = factor * _VALUE[symbol]
        total += addend // 32 + addend % 32
        factor = 1 if factor == 2 else 2
    return ALPHABET[(32 - total % 32) % 32]


def _random_symbols(count: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(count))


def new_coupon_code() -> str:
    """A new coupon code in its canonical form (no hyphens)."""
    payload = _random_symbols(COUPON_SYMBOLS)
    return payload + check_symbol(payload)


def new_share_code() -> str:
    """Share codes travel in links, not at tills: random symbols only (50 bits)."""
    return _random_symbols(SHARE_SYMBOLS)


QR_PREFIX = "SOLOMO:"


def normalize(typed: str) -> str:
    """The canonical form of what someone typed or scanned (may still be invalid)."""
    code = typed.strip().upper()
    return code.removeprefix(QR_PREFIX).translate(_ALIASES)


def is_well_formed(code: str) -> bool:
    """A canonical coupon code of the right length whose check symbol matches."""
    if len(code) != COUPON_SYMBOLS + 1 or any(symbol not in _VALUE for symbol in code):
        return False
    return check_symbol(code[:-1]) == code[-1]


def display(code: str) -> str:
    """Grouped by four for reading aloud and typing: ``7QK2-9MZD-4HXT``."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def qr_payload(code: str) -> str:
    """What the app renders as a QR code; the till's scanner types it into the look-up."""
    return QR_PREFIX + code
