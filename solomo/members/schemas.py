from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from solomo.schemas import Input

ExternalId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, description="The brand's own id for the member.")
]


class MemberUpsert(Input):
    external_id: ExternalId
    display_name: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class MemberOut(msgspec.Struct):
    id: uuid.UUID
    external_id: str | None
    display_name: str | None
    created_at: datetime
    updated_at: datetime


class MemberToken(msgspec.Struct):
    token: Annotated[str, msgspec.Meta(description="Send as `Authorization: Bearer …` from the app.")]
    token_type: str
    expires_at: datetime
