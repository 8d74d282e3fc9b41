"""The check-in heatmap from rollups: ``heatmap_cells`` counts verified check-ins per hexagon of a fixed ladder of
grids, per brand-local day and month, with the members' sketch (solomo/stats/heatmap_cells.py).

The journal (``stats_pending``) gets a verified check-in's point (``lon``, ``lat``), written by
``solomo_record_check_in`` (version 7); the fold statement gains the heatmap's upsert (``solomo_stats_fold``,
``solomo_stats_fold_raw``), the rebuild's events carry the point (``solomo_stats_raw_events``), and
``solomo_heatmap_cell`` (solomo/stats/sql/heatmap_cell.sql) is the grid's one rule for which hexagon holds a point.
All are installed from the copies in ``0009_heatmap_cells/``.

The upgrade fills ``heatmap_cells`` from the raw check-ins of every brand (verified ones, at
``coalesce(location, coarse_location)``, as the rebuild reads them), so the heatmap answers from rollups at once.
Journal rows already waiting have no point and add nothing to the heatmap when folded: their check-ins are among
the raw rows counted here, and no check-in can journal a point before this commits, since the ``ALTER TABLE`` holds
``stats_pending`` until then. That is also the cost: the fill took about 95 s per 10⁶ verified check-ins on the bench
machine (bench/README.md, 2026-12-03), and check-ins wait for it, each for its lock timeout (2 s by default), then
are answered 503 with Retry-After. Upgrade a large database when check-ins are few. (A check-in already running
the earlier function when this commits journals no point and is missing from the heatmap until
``solomo maintenance rebuild-stats``.)

The downgrade drops the table and the columns and puts back the functions as ``0008_brand_keys/`` and
``0001_baseline/`` installed them (a file read, never an import).

Revision ID: 0009_heatmap_cells
Revises: 0008_brand_keys
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0009_heatmap_cells"
down_revision: str | None = "0008_brand_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONS = Path(__file__).parent
HERE = VERSIONS / "0009_heatmap_cells"
#: The functions this revision changes, as the earlier revisions installed them (install order).
PREVIOUS = (
    VERSIONS / "0008_brand_keys" / "11_solomo_record_check_in.sql",
    VERSIONS / "0001_baseline" / "06_solomo_stats_raw_events.sql",
    VERSIONS / "0008_brand_keys" / "20_solomo_stats_fold.sql",
    VERSIONS / "0008_brand_keys" / "21_solomo_stats_fold_raw.sql",
)

# Every brand's verified check-ins on every rung (k = 0..20, circumradius 100·√2^k Mercator metres), per brand-local
# day; then the months from the days. The same cells, days and sketches as the fold statement of this revision.
_FILL_DAYS = """
    WITH points AS MATERIALIZED (
        SELECT c.brand_id, c.member_id, (c.recorded_at AT TIME ZONE b.timezone)::date AS day,
               6378137 * radians(ST_X(p.g)) AS x, 6378137 * ln(tan(pi() / 4 + radians(ST_Y(p.g)) / 2)) AS y
        FROM checkins c
        JOIN brands b ON b.id = c.brand_id
        CROSS JOIN LATERAL (SELECT CAST(coalesce(c.location, c.coarse_location) AS geometry) AS g) AS p
        WHERE c.flags = '{}' AND p.g IS NOT NULL AND abs(ST_Y(p.g)) <= 85.0511287798066
    ),
    rungs AS MATERIALIZED (
        SELECT k::smallint AS rung, w.column_m, w.row_m
        FROM generate_series(0, 20) AS k
        CROSS JOIN LATERAL solomo_heatmap_rung(k) AS w
    )
    INSERT INTO heatmap_cells (brand_id, rung, grain, period, i, j, checkins, members)
    SELECT c.brand_id, c.rung, 'd', c.day, c.cell[1], c.cell[2], count(*),
           hll_add_agg(hll_hash_bytea(uuid_send(c.member_id)), 11, 5, -1, 1)
    FROM (
        SELECT p.brand_id, r.rung, p.day, p.member_id, solomo_heatmap_cell(p.x / r.column_m, p.y / r.row_m) AS cell
        FROM points p
        CROSS JOIN rungs r
    ) AS c
    GROUP BY c.brand_id, c.rung, c.day, c.cell
"""
_FILL_MONTHS = """
    INSERT INTO heatmap_cells (brand_id, rung, grain, period, i, j, checkins, members)
    SELECT brand_id, rung, 'm', date_trunc('month', period)::date, i, j, sum(checkins), hll_union_agg(members)
    FROM heatmap_cells
    WHERE grain = 'd'
    GROUP BY brand_id, rung, date_trunc('month', period), i, j
"""


def upgrade() -> None:
    op.add_column("stats_pending", sa.Column("lon", sa.Double(), nullable=True))
    op.add_column("stats_pending", sa.Column("lat", sa.Double(), nullable=True))
    op.execute(
        """
        CREATE TABLE heatmap_cells (
            brand_id uuid NOT NULL,
            rung smallint NOT NULL,
            grain char(1) NOT NULL,
            period date NOT NULL,
            i integer NOT NULL,
            j integer NOT NULL,
            checkins bigint NOT NULL,
            members hll NOT NULL,
            CONSTRAINT pk_heatmap_cells PRIMARY KEY (brand_id, rung, grain, period, i, j),
            CONSTRAINT fk_heatmap_cells_brand_id_brands FOREIGN KEY (brand_id) REFERENCES brands (id) ON DELETE CASCADE,
            CONSTRAINT ck_heatmap_cells_grain CHECK (grain IN ('d', 'm')),
            CONSTRAINT ck_heatmap_cells_rung CHECK (rung BETWEEN 0 AND 20)
        )
        """
    )
    # File names sort in install order (solomo_heatmap_cell before the fold that calls it).
    for path in sorted(HERE.glob("*.sql")):
        op.execute(path.read_text())
    op.execute(_FILL_DAYS)
    op.execute(_FILL_MONTHS)


def downgrade() -> None:
    op.drop_table("heatmap_cells")
    # Before the earlier solomo_stats_raw_events, whose rows must match the journal's columns again.
    op.drop_column("stats_pending", "lat")
    op.drop_column("stats_pending", "lon")
    for path in PREVIOUS:
        op.execute(path.read_text())
    op.execute("DROP FUNCTION solomo_heatmap_cell(double precision, double precision)")
    op.execute("DROP FUNCTION solomo_heatmap_rung(integer)")
