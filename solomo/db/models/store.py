from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import Geography, WKBElement
from sqlalchemy import ForeignKey, Index, PrimaryKeyConstraint, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import String

from solomo.db.base import Base, brand_keyed_id, created_at, updated_at


class Store(Base):
    """A physical store. ``location`` is geography so distances are metres on the spheroid."""

    __tablename__ = "stores"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "id"),
        UniqueConstraint("brand_id", "external_ref"),
        # brand_id first (btree_gist) so a tenant's KNN search never walks other tenants' stores.
        Index("ix_stores_brand_location", "brand_id", "location", postgresql_using="gist"),
    )

    id: Mapped[uuid.UUID] = brand_keyed_id()
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str]
    address: Mapped[str | None]
    location: Mapped[WKBElement] = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    timezone: Mapped[str]
    tags: Mapped[list[str]] = mapped_column(ARRAY(String), server_default=text("'{}'"))
    external_ref: Mapped[str | None]
    #: Set instead of deleting a store that has history (redemptions) to keep.
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
