"""The KOL board ranks sharers by a bound instead of summing every one of them: four-month windows.

``stats_referrers`` gets rows of grain ``r``: per sharer (and offer key), the sum of the four calendar months
ending with ``period``. A range that touches at most four months lies inside the window ending with its last
month, and no figure is ever negative, so a sharer's window bounds its total over the range. The board walks the
sharers from the highest window down and stops once no one left can pass the ones it has (see
``solomo/stats/referrers.py``). At 90 days over 12,000 active sharers, summing all of them was most of its time.

- The fold statement (``0014_stats_fold_statement.sql``) adds each referred event to its four windows; the
  functions of 0013 are installed again with it.
- The windows of the history already folded are added from its month rows.
- One partial index over the windows per figure the board walks by: claims, redemptions, order amount.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HERE = Path(__file__).parent
#: The figures the board walks sharers by (shares tie too often to be worth it; followers are not rollups).
FIGURES = ("claims", "redemptions", "order_amount")


#: The windows of the history folded before this migration, from its month rows (a test runs it too).
BACKFILL = """
    INSERT INTO stats_referrers (brand_id, offer_key, grain, period, referrer_id, shares, claims, redemptions,
                                 order_amount)
    SELECT brand_id, offer_key, 'r', (period + make_interval(months => later))::date, referrer_id,
           sum(shares), sum(claims), sum(redemptions), sum(order_amount)
    FROM stats_referrers
    CROSS JOIN generate_series(0, 3) AS later
    WHERE grain = 'm'
    GROUP BY 1, 2, 3, 4, 5
"""


def _functions_of_0013() -> ModuleType:
    # Its fold and fold_raw wrap a fold statement into the two functions; a module name cannot start with a digit.
    spec = importlib.util.spec_from_file_location("stats_fold_reads_0013", HERE / "0013_stats_fold_reads.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _install(statement_file: str) -> None:
    functions = _functions_of_0013()
    for definition in (functions.fold(statement_file), functions.fold_raw(statement_file)):
        op.execute(definition.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))


def upgrade() -> None:
    op.execute("ALTER TABLE stats_referrers DROP CONSTRAINT ck_stats_referrers_grain")
    op.execute(
        "ALTER TABLE stats_referrers ADD CONSTRAINT ck_stats_referrers_grain CHECK (grain IN ('d', 'w', 'm', 'r'))"
    )
    _install("0014_stats_fold_statement.sql")
    op.execute(BACKFILL)
    for figure in FIGURES:
        op.execute(
            f"CREATE INDEX ix_stats_referrers_window_{figure} ON stats_referrers"
            f" (brand_id, offer_key, period, {figure} DESC, referrer_id) WHERE grain = 'r'"
        )


def downgrade() -> None:
    for figure in FIGURES:
        op.execute(f"DROP INDEX ix_stats_referrers_window_{figure}")
    op.execute("DELETE FROM stats_referrers WHERE grain = 'r'")
    op.execute("ALTER TABLE stats_referrers DROP CONSTRAINT ck_stats_referrers_grain")
    op.execute("ALTER TABLE stats_referrers ADD CONSTRAINT ck_stats_referrers_grain CHECK (grain IN ('d', 'w', 'm'))")
    _install("0013_stats_fold_statement.sql")
