"""Idempotency records: the ``route`` column is named ``method``, what it has held since a key's scope took in
the concrete path (the path is inside the stored fingerprint, see ``solomo/idempotency.py``).

Revision ID: 0003_idempotency_method
Revises: 0002_fences_at
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_idempotency_method"
down_revision: str | None = "0002_fences_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE idempotency_keys RENAME COLUMN route TO method")


def downgrade() -> None:
    op.execute("ALTER TABLE idempotency_keys RENAME COLUMN method TO route")
