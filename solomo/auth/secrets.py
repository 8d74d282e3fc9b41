"""API key secrets: a visible kind prefix, 256 random bits, and only a SHA-256 digest at rest.

SHA-256 (not a slow password hash) because the secret is long and random, so there is nothing to
brute-force, and it is checked on every request.
"""

from __future__ import annotations

import hashlib
import secrets

API_KEY_PREFIX = "sk_"
#: How much of a key is kept in clear so people can tell their keys apart.
DISPLAY_PREFIX_LEN = len(API_KEY_PREFIX) + 8


def new_api_key_secret() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def display_prefix(secret: str) -> str:
    return secret[:DISPLAY_PREFIX_LEN]


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)
