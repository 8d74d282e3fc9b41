"""The hot routes' request functions: each of POST /v1/checkins, /v1/offers/{id}/claims and /v1/redemptions becomes
one statement that authenticates, charges the request budget, keeps the Idempotency-Key and does the work.

New: solomo_charge_budget and solomo_budget_level (solomo/ops/sql/, the budget rule the auth middleware calls too),
solomo_idempotent_replay and solomo_idempotent_save (solomo/idempotency/sql/), the code throttle's two rules
(solomo/coupons/sql/), and the request functions next to their domains. Changed: solomo_record_check_in (version 6,
less work per call, no rule changed); solomo_offer_admits, inlinable again now that its linked-account test is
solomo_member_has_account, and solomo_in_weekly_hours, in plpgsql so that its plan is kept. All are installed from
the copies in ``0004_request_functions/``; the downgrade drops the new ones and puts back the copies the earlier
revisions carry of those it changed (a file read, never an import).

Revision ID: 0004_request_functions
Revises: 0003_idempotency_method
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0004_request_functions"
down_revision: str | None = "0003_idempotency_method"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONS = Path(__file__).parent
HERE = VERSIONS / "0004_request_functions"
#: The functions this revision changes, as the earlier revisions installed them.
PREVIOUS = (
    VERSIONS / "0001_baseline" / "01_solomo_in_weekly_hours.sql",
    VERSIONS / "0001_baseline" / "02_solomo_offer_admits.sql",
    VERSIONS / "0002_fences_at" / "04_solomo_record_check_in.sql",
)
NEW = (
    "solomo_redeem_request(uuid, uuid, bytea, integer, double precision, text, bytea, double precision,"
    " double precision, text, boolean, uuid, numeric)",
    "solomo_claim_request(uuid, uuid, integer, integer, double precision, text, bytea, uuid, text, text)",
    "solomo_record_code_failure(uuid, text, double precision)",
    "solomo_code_throttle_level(uuid, text, double precision)",
    "solomo_checkin_request(uuid, uuid, integer, integer, double precision, text, bytea, double precision,"
    " double precision, double precision, timestamptz, boolean, text)",
    "solomo_member_request_opening(uuid, uuid, integer, integer, double precision, text, bytea)",
    "solomo_idempotent_save(uuid, text, text, text, bytea, integer, bytea)",
    "solomo_idempotent_replay(uuid, text, text, text, bytea)",
    "solomo_member_has_account(uuid, uuid, text, integer)",
    "solomo_budget_level(uuid, text, double precision)",
    "solomo_charge_budget(uuid, text, integer, double precision, boolean)",
)


def upgrade() -> None:
    # File names sort in install order.
    for path in sorted(HERE.glob("*.sql")):
        op.execute(path.read_text())


def downgrade() -> None:
    for path in PREVIOUS:
        op.execute(path.read_text())
    for signature in NEW:
        op.execute(f"DROP FUNCTION {signature}")
