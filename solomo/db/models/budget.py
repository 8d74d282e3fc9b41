"""Per-caller request budgets (the per-key and per-member rate limit). Migration 0015 creates the table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, PrimaryKeyConstraint, Text
from sqlalchemy.orm import Mapped, mapped_column

from solomo.db.base import Base


class RequestBudget(Base):
    """One caller's level, which drains with time (a leaky bucket); UNLOGGED: worth nothing after a crash."""

    __tablename__ = "request_budgets"
    __table_args__ = (PrimaryKeyConstraint("brand_id", "subject"), {"prefixes": ["UNLOGGED"]})

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(Text)
    level: Mapped[float]
    at: Mapped[datetime]
