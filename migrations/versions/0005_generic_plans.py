"""The three request functions run their statements with generic plans (``SET plan_cache_mode =
force_generic_plan`` on each): left to choose, the plan cache planned the check-in's statements afresh on every
call. No rule changes. Installed from the copies in ``0005_generic_plans/``; the downgrade puts back the copies of
``0004_request_functions/`` (a file read, never an import).

Revision ID: 0005_generic_plans
Revises: 0004_request_functions
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0005_generic_plans"
down_revision: str | None = "0004_request_functions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONS = Path(__file__).parent
HERE = VERSIONS / "0005_generic_plans"
#: The functions this revision changes, as the earlier revision installed them.
PREVIOUS = tuple(VERSIONS / "0004_request_functions" / path.name for path in sorted(HERE.glob("*.sql")))


def upgrade() -> None:
    for path in sorted(HERE.glob("*.sql")):
        op.execute(path.read_text())


def downgrade() -> None:
    for path in PREVIOUS:
        op.execute(path.read_text())
