from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from solomo.db.base import Base, created_at, updated_at, uuid_pk


class Member(Base):
    """A brand's member profile (the members issue adds the CRM fields)."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("brand_id", "external_id"),
        # Lets child tables reference (brand_id, member_id), so a row can never point across brands.
        UniqueConstraint("brand_id", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    external_id: Mapped[str | None]
    display_name: Mapped[str | None]
    #: Bumped by erasure and merge; member tokens carry it and are refused once it moves on.
    token_version: Mapped[int] = mapped_column(server_default=text("0"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
