"""Who is calling: a brand API key with a role (and a store scope for managers), or a member token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    MARKETER = "marketer"
    #: The mobile app acting for one member, with a member token.
    MEMBER = "member"


KEY_ROLES = (Role.ADMIN, Role.MANAGER, Role.MARKETER)


@dataclass(frozen=True, slots=True)
class Principal:
    brand_id: uuid.UUID
    role: Role
    key_id: uuid.UUID | None = None
    store_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    member_id: uuid.UUID | None = None

    @property
    def store_scope(self) -> frozenset[uuid.UUID] | None:
        """The stores a manager is limited to; None for roles that see the whole brand."""
        return self.store_ids if self.role is Role.MANAGER else None

    def may_use_store(self, store_id: uuid.UUID) -> bool:
        scope = self.store_scope
        return scope is None or store_id in scope
