"""Per-caller request budgets: one leaky-bucket level per API key or member, shared by every worker.

UNLOGGED: a budget is a few seconds of state that nobody needs back after a crash, and the request path
charges it in a transaction of its own, which then commits without waiting for a WAL flush. See
``solomo/ops/budgets.py`` for how the level is charged and read.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE UNLOGGED TABLE request_budgets (
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            subject text NOT NULL,
            level double precision NOT NULL,
            at timestamptz NOT NULL,
            CONSTRAINT pk_request_budgets PRIMARY KEY (brand_id, subject)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE request_budgets")
