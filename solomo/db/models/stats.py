"""The stats tables: the event journal, the rollups it is folded into (the heatmap's among them), and first visits.

Core tables rather than ORM classes: nothing loads them as objects (the journal has no key at all), and the
rollups share one long list of counter columns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CHAR, UUID
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType

from solomo.db.base import Base

#: Upper bounds (seconds) of the claim-to-redemption buckets w00..w14; w15 holds everything longer.
WAIT_BOUNDS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200, 604800, 1209600, 2592000, 7776000)
WAIT_COLUMNS = tuple(f"w{i:02d}" for i in range(len(WAIT_BOUNDS) + 1))
COUNT_COLUMNS = (
    "checkins",
    "checkins_flagged",
    "new_members",
    "impressions",
    "claims",
    "referred_claims",
    "redemptions",
    "referred_redemptions",
    "voids",
)


class HLL(UserDefinedType[Any]):
    """A HyperLogLog sketch from the ``hll`` extension; only ever read through SQL functions."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "hll"


ischema_names["hll"] = HLL  # so reflection (the migrations-match-models test) knows the type


def _counters() -> list[Column[Any]]:
    columns: list[Column[Any]] = [
        Column(name, BigInteger, nullable=False, server_default=text("0")) for name in COUNT_COLUMNS
    ]
    columns.append(Column("order_amount", Numeric, nullable=False, server_default=text("0")))
    columns.append(Column("members", HLL, nullable=False))
    columns += [Column(name, BigInteger, nullable=False, server_default=text("0")) for name in WAIT_COLUMNS]
    return columns


member_firsts = Table(
    "member_firsts",
    Base.metadata,
    Column("brand_id", UUID(as_uuid=True), nullable=False),
    Column("member_id", UUID(as_uuid=True), nullable=False),
    Column("store_key", UUID(as_uuid=True), nullable=False),
    Column("first_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("member_id", "store_key"),
    ForeignKeyConstraint(["brand_id", "member_id"], ["members.brand_id", "members.id"], ondelete="CASCADE"),
)

stats_pending = Table(
    "stats_pending",
    Base.metadata,
    Column("brand_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("n", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("in_brand", Boolean, nullable=False),
    Column("store_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
    Column("offer_id", UUID(as_uuid=True)),
    Column("member_id", UUID(as_uuid=True), nullable=False),
    Column("referrer_id", UUID(as_uuid=True)),
    Column("amount", Numeric),
    Column("wait_s", Integer),
    # A verified check-in's point (WGS-84), for the heatmap rollup; NULL on every other event.
    Column("lon", Double),
    Column("lat", Double),
    CheckConstraint(
        "kind IN ('checkin', 'flagged', 'first', 'impression', 'claim', 'redeem', 'void', 'share')", name="kind"
    ),
    Index("ix_stats_pending_brand_id", "brand_id"),
)


def _keys() -> list[Column[Any]]:
    return [
        Column("brand_id", UUID(as_uuid=True), ForeignKey("brands.id", ondelete="CASCADE"), nullable=False),
        Column("store_key", UUID(as_uuid=True), nullable=False),
        Column("offer_key", UUID(as_uuid=True), nullable=False),
        Column("grain", CHAR(1), nullable=False),
        Column("period", Date, nullable=False),
    ]


stats_rollup = Table(
    "stats_rollup",
    Base.metadata,
    *_keys(),
    *_counters(),
    PrimaryKeyConstraint("brand_id", "store_key", "offer_key", "grain", "period"),
    CheckConstraint("grain IN ('d', 'w', 'm')", name="grain"),
)

stats_hourly = Table(
    "stats_hourly",
    Base.metadata,
    *_keys(),
    Column("hour", SmallInteger, nullable=False),
    *_counters(),
    PrimaryKeyConstraint("brand_id", "store_key", "offer_key", "grain", "period", "hour"),
    CheckConstraint("grain IN ('d', 'w', 'm')", name="grain"),
    CheckConstraint("hour BETWEEN 0 AND 23", name="hour"),
)

stats_referrers = Table(
    "stats_referrers",
    Base.metadata,
    Column("brand_id", UUID(as_uuid=True), ForeignKey("brands.id", ondelete="CASCADE"), nullable=False),
    Column("offer_key", UUID(as_uuid=True), nullable=False),
    Column("grain", CHAR(1), nullable=False),
    Column("period", Date, nullable=False),
    Column("referrer_id", UUID(as_uuid=True), nullable=False),
    *[
        Column(name, BigInteger, nullable=False, server_default=text("0"))
        for name in ("shares", "claims", "redemptions")
    ],
    Column("order_amount", Numeric, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("brand_id", "offer_key", "grain", "period", "referrer_id"),
    # r: a sharer's four months ending with period, the bound the KOL board ranks by (fold_statement.sql).
    CheckConstraint("grain IN ('d', 'w', 'm', 'r')", name="grain"),
    *[
        Index(
            f"ix_stats_referrers_window_{figure}",
            "brand_id",
            "offer_key",
            "period",
            text(f"{figure} DESC"),
            "referrer_id",
            postgresql_where=text("grain = 'r'"),
        )
        for figure in ("claims", "redemptions", "order_amount")
    ],
)

#: Verified check-ins per hexagon of the heatmap's fixed ladder of grids (solomo/stats/heatmap_cells.py): cell (i, j)
#: of ST_Hexagon's layout in EPSG:3857 at circumradius 100·√2^rung metres, per brand-local day (grain d) or calendar
#: month (grain m, period its first day), with the distinct members' sketch. Keyed by brand first, like every
#: rollup; a read takes one brand, rung and period and a range of i.
heatmap_cells = Table(
    "heatmap_cells",
    Base.metadata,
    Column("brand_id", UUID(as_uuid=True), ForeignKey("brands.id", ondelete="CASCADE"), nullable=False),
    Column("rung", SmallInteger, nullable=False),
    Column("grain", CHAR(1), nullable=False),
    Column("period", Date, nullable=False),
    Column("i", Integer, nullable=False),
    Column("j", Integer, nullable=False),
    Column("checkins", BigInteger, nullable=False),
    Column("members", HLL, nullable=False),
    PrimaryKeyConstraint("brand_id", "rung", "grain", "period", "i", "j"),
    CheckConstraint("grain IN ('d', 'm')", name="grain"),
    CheckConstraint("rung BETWEEN 0 AND 20", name="rung"),
)
