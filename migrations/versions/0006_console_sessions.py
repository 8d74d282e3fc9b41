"""Console sessions: a person signs in to the web console with an API key and the browser keeps an HttpOnly
cookie naming a ``console_sessions`` row (never the key). ``solomo_console_session``
(solomo/console/sql/console_session.sql) finds a live session as the key it acts for; installed from the copy in
``0006_console_sessions/``.

Revision ID: 0006_console_sessions
Revises: 0005_generic_plans
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0006_console_sessions"
down_revision: str | None = "0005_generic_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HERE = Path(__file__).parent / "0006_console_sessions"


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("brand_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("api_key_id", sa.UUID(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_console_sessions_brand_id_brands"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_console_sessions_api_key_id_api_keys"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_console_sessions")),
    )
    op.create_index("ix_console_sessions_brand_expires", "console_sessions", ["brand_id", "expires_at"])
    op.create_index(op.f("ix_console_sessions_api_key_id"), "console_sessions", ["api_key_id"])
    for path in sorted(HERE.glob("*.sql")):
        op.execute(path.read_text())


def downgrade() -> None:
    op.execute("DROP FUNCTION solomo_console_session(uuid, uuid, bytea, integer)")
    op.drop_table("console_sessions")
