from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from solomo.schemas import Input

KeyRole = Literal["admin", "manager", "marketer"]


class ApiKeyCreate(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="What the key is for.")]
    role: KeyRole
    store_ids: Annotated[
        list[uuid.UUID],
        msgspec.Meta(max_length=10_000, description="Stores a manager key may act on (managers only, at least one)."),
    ] = []


class ApiKeyOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    role: KeyRole
    store_ids: list[uuid.UUID]
    prefix: Annotated[str, msgspec.Meta(description="The first characters of the secret, to tell keys apart.")]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    secret: Annotated[str, msgspec.Meta(description="The key itself. Shown once: only its hash is stored.")]


class ApiKeyPage(msgspec.Struct):
    items: list[ApiKeyOut]
    next_cursor: str | None
