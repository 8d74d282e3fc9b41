from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import Geography, WKBElement
from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, PrimaryKeyConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from solomo.db.base import Base, brand_keyed_id, created_at, updated_at


class Geofence(Base):
    """A store's fence: a polygon/multipolygon, or a geodesic circle (center + radius).

    ``geom`` is always polygonal and indexed: the fence itself for polygons, and for circles a polygon
    that contains the circle, so one GiST prefilter serves both kinds before the exact test.
    """

    __tablename__ = "geofences"
    __table_args__ = (
        # (brand_id, store_id) → stores: a fence can never hang off another brand's store.
        PrimaryKeyConstraint("brand_id", "id"),
        ForeignKeyConstraint(["brand_id", "store_id"], ["stores.brand_id", "stores.id"], ondelete="CASCADE"),
        CheckConstraint("kind IN ('circle', 'polygon')", name="kind"),
        CheckConstraint(
            "(kind = 'circle' AND center IS NOT NULL AND radius_m BETWEEN 10 AND 50000)"
            " OR (kind = 'polygon' AND center IS NULL AND radius_m IS NULL)",
            name="circle_fields",
        ),
        CheckConstraint("dwell_seconds BETWEEN 0 AND 86400", name="dwell_seconds"),
        Index("ix_geofences_brand_geom", "brand_id", "geom", postgresql_using="gist"),
        # bbox listing filters with planar `&&` on lon/lat (RFC 7946 boxes), which needs its own expression index.
        Index("ix_geofences_brand_geom_planar", "brand_id", text("(geom::geometry)"), postgresql_using="gist"),
        Index("ix_geofences_brand_store", "brand_id", "store_id"),
    )

    id: Mapped[uuid.UUID] = brand_keyed_id()
    brand_id: Mapped[uuid.UUID]
    store_id: Mapped[uuid.UUID]
    name: Mapped[str]
    kind: Mapped[str]
    geom: Mapped[WKBElement] = mapped_column(Geography("GEOMETRY", srid=4326, spatial_index=False))
    center: Mapped[WKBElement | None] = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    radius_m: Mapped[float | None]
    dwell_seconds: Mapped[int] = mapped_column(server_default=text("0"))
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    #: Geodesic area in m² (π r² for circles), computed when the fence is written.
    area_m2: Mapped[float]
    vertex_count: Mapped[int]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
