"""Referral codes: short, typable, unambiguous (Crockford base32 has no I, L, O or U)."""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 8  # 40 bits: collisions within one brand are rare, and the unique index catches them


def new_referral_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(code: str) -> str:
    """What a person typed → the stored form (Crockford reads O as 0 and I/L as 1)."""
    return code.strip().upper().replace("O", "0").replace("I", "1").replace("L", "1").replace("-", "")
