from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, PrimaryKeyConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from solomo.db.base import Base, brand_keyed_id, created_at


class ApiKey(Base):
    """A brand API key. Only the SHA-256 of the secret is kept; ``prefix`` lets people tell keys apart."""

    __tablename__ = "api_keys"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "id"),
        CheckConstraint("role IN ('admin', 'manager', 'marketer')", name="role"),
        CheckConstraint("role = 'manager' OR cardinality(store_ids) = 0", name="store_scope_only_for_managers"),
        Index("ix_api_keys_brand_created", "brand_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = brand_keyed_id()
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str]
    role: Mapped[str]
    store_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), server_default=text("'{}'"))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)
    prefix: Mapped[str]
    created_at: Mapped[datetime] = created_at()
    revoked_at: Mapped[datetime | None]


class ApiKeyRoute(Base):
    """Which brand holds the key with this hash: the one look-up that cannot name a brand first, since the brand is
    what it finds. A Citus reference table (solomo/db/citus/distribute.sql), so the look-up is local on every node;
    the hash is unique here, across brands, and nowhere else. Written with the key (ApiKeyService.create)."""

    __tablename__ = "api_key_routes"

    secret_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    key_id: Mapped[uuid.UUID]
