from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from solomo.db.base import Base, created_at


class ConsoleSession(Base):
    """A person signed in to the console with an API key: the browser holds the cookie, the server this row.

    The key's secret is never kept: the session acts for the key by id, so revoking the key ends the session.
    The primary key starts with the brand (the cookie carries both), so a session is found on its brand's rows.
    """

    __tablename__ = "console_sessions"
    __table_args__ = (
        Index("ix_console_sessions_brand_expires", "brand_id", "expires_at"),
        ForeignKeyConstraint(["brand_id", "api_key_id"], ["api_keys.brand_id", "api_keys.id"], ondelete="CASCADE"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    api_key_id: Mapped[uuid.UUID] = mapped_column(index=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime]
    idle_until: Mapped[datetime]
