"""The fence-matching rule as one function, solomo_fences_at, and the check-in function that calls it.

``solomo/geofences/sql/fences_at.sql`` is the rule (tolerance = least(accuracy, cap); geodesic circles behind the
indexed prefilter); the check-in function, the demo, the benchmarks and the plan test call it rather than
repeating it. The texts installed are copies in ``0002_fences_at/``; the downgrade puts back the baseline's frozen
copy of the check-in function (a file read, never an import of that revision).

Revision ID: 0002_fences_at
Revises: 0001_baseline
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0002_fences_at"
down_revision: str | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HERE = Path(__file__).with_name("0002_fences_at")
#: The check-in function as it was before this revision.
PREVIOUS = Path(__file__).with_name("0001_baseline") / "03_solomo_record_check_in.sql"


def upgrade() -> None:
    # File names sort in install order: solomo_fences_at before the check-in function that calls it.
    for path in sorted(HERE.glob("*.sql")):
        op.execute(path.read_text())


def downgrade() -> None:
    op.execute(PREVIOUS.read_text())
    op.execute("DROP FUNCTION solomo_fences_at(uuid, geography, double precision, double precision)")
