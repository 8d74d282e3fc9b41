"""Check-ins (partitioned by month of recorded_at), fence state per member, matches, idempotency keys,
and the hot-path function `solomo_record_check_in`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The function is kept as a plain SQL file beside this revision so it can be read and reviewed as SQL.
FUNCTION_SQL = Path(__file__).with_name("0007_record_check_in.sql")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE checkins (
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            member_id uuid NOT NULL,
            recorded_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            location geography(Point, 4326),
            coarse_location geography(Point, 4326),
            accuracy_m double precision NOT NULL,
            mocked boolean NOT NULL DEFAULT false,
            source text,
            flags text[] NOT NULL DEFAULT '{}',
            CONSTRAINT pk_checkins PRIMARY KEY (id, recorded_at),
            CONSTRAINT fk_checkins_brand_id_member_id_members FOREIGN KEY (brand_id, member_id)
                REFERENCES members (brand_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_checkins_accuracy_m CHECK (accuracy_m > 0)
        ) PARTITION BY RANGE (recorded_at)
        """
    )
    # Rows outside every monthly partition land here; `solomo maintenance partitions` adds months ahead.
    op.execute("CREATE TABLE checkins_default PARTITION OF checkins DEFAULT")
    op.execute("CREATE INDEX ix_checkins_member_recorded ON checkins (brand_id, member_id, recorded_at DESC)")
    op.execute("CREATE INDEX ix_checkins_member_received ON checkins (brand_id, member_id, received_at DESC)")
    op.execute("CREATE INDEX ix_checkins_unpurged ON checkins (brand_id, recorded_at) WHERE location IS NOT NULL")
    op.execute(
        """
        CREATE TABLE checkin_matches (
            checkin_id uuid NOT NULL,
            recorded_at timestamptz NOT NULL,
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            member_id uuid NOT NULL,
            fence_id uuid NOT NULL,
            store_id uuid NOT NULL,
            event text,
            CONSTRAINT pk_checkin_matches PRIMARY KEY (checkin_id, fence_id),
            CONSTRAINT ck_checkin_matches_event CHECK (event IN ('enter', 'dwell', 'exit'))
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_checkin_matches_visits ON checkin_matches (brand_id, member_id, store_id, recorded_at DESC)"
    )
    op.execute(
        """
        CREATE TABLE fence_states (
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            member_id uuid NOT NULL,
            fence_id uuid NOT NULL REFERENCES geofences (id) ON DELETE CASCADE,
            inside boolean NOT NULL,
            entered_at timestamptz,
            dwell_fired boolean NOT NULL DEFAULT false,
            last_recorded_at timestamptz NOT NULL,
            CONSTRAINT pk_fence_states PRIMARY KEY (member_id, fence_id),
            CONSTRAINT fk_fence_states_brand_id_member_id_members FOREIGN KEY (brand_id, member_id)
                REFERENCES members (brand_id, id) ON DELETE CASCADE
        )
        """
    )
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            caller text NOT NULL,
            route text NOT NULL,
            key text NOT NULL,
            body_hash bytea NOT NULL,
            status_code integer NOT NULL,
            response bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_idempotency_keys PRIMARY KEY (brand_id, caller, route, key)
        )
        """
    )
    op.execute("CREATE INDEX ix_idempotency_keys_created ON idempotency_keys (created_at)")
    op.execute(FUNCTION_SQL.read_text())


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS solomo_record_check_in(uuid, uuid, double precision, double precision,"
        " double precision, timestamptz, boolean, text)"
    )
    op.execute("DROP TABLE idempotency_keys")
    op.execute("DROP TABLE fence_states")
    op.execute("DROP TABLE checkin_matches")
    op.execute("DROP TABLE checkins")
