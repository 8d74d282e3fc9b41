"""Stats folds that never hold a read up: empty folds return at once, busy ones wait a bounded time, and the
rebuild folds the raw rows directly instead of pushing its whole history through the journal.

- ``solomo_stats_fold(brand, wait_ms)`` replaces ``solomo_stats_fold(brand, wait)``. A brand with nothing
  journalled (what most reads find) returns 0 without taking the lock or running the fold statement. A busy
  lock is retried for at most ``wait_ms`` (a background fold takes milliseconds; a rebuild holds the lock for
  minutes), then the call returns NULL and the read answers from the rollups as they are.
- ``solomo_stats_fold_raw(brand)`` adds the brand's history from the raw rows (``solomo_stats_raw_events``). The
  rebuild used to insert those events into ``stats_pending`` and fold them from there: at 1.7·10⁷ events that
  left as many dead journal rows, and every read's fold then walked them (2.1 s a read) until a vacuum.
- Both run one statement, ``0013_stats_fold_statement.sql``, with its event source filled in. It looks up an
  event's stores by primary key; the 0012 statement scanned the brand's stores once per event.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HERE = Path(__file__).parent
#: The advisory lock a brand's folds (and its rebuild) take: (20261123, hashtext(brand id)).
LOCK = "20261123, hashtext(p_brand::text)"


#: The fold statement these functions run; a later migration that changes it installs them with its own.
STATEMENT = "0013_stats_fold_statement.sql"


def _statement(events: str, statement_file: str) -> str:
    return (HERE / statement_file).read_text().replace("/*EVENTS*/", events)


def fold(statement_file: str = STATEMENT) -> str:
    statement = _statement("DELETE FROM stats_pending WHERE brand_id = p_brand RETURNING *", statement_file)
    return f"""
CREATE FUNCTION solomo_stats_fold(p_brand uuid, p_wait_ms integer DEFAULT 200) RETURNS bigint
LANGUAGE plpgsql AS $fold$
-- Folds the brand's journal into the rollups and answers how many events it folded: 0 when nothing was
-- journalled, NULL when another fold (or a rebuild) held the brand for longer than p_wait_ms.
-- Exactly once: the DELETE … RETURNING takes only events committed before the statement began, and removes
-- them in the transaction that adds them to the rollups. One fold a brand at a time: two upserting the same
-- rows in different orders could deadlock.
DECLARE
    v_events bigint;
    v_until timestamptz := clock_timestamp() + make_interval(secs => greatest(p_wait_ms, 0) / 1000.0);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM stats_pending WHERE brand_id = p_brand) THEN
        RETURN 0;
    END IF;
    WHILE NOT pg_try_advisory_xact_lock({LOCK}) LOOP
        IF clock_timestamp() >= v_until THEN
            RETURN NULL;
        END IF;
        PERFORM pg_sleep(0.005);
    END LOOP;
{statement}
    RETURN v_events;
END;
$fold$
"""


def fold_raw(statement_file: str = STATEMENT) -> str:
    statement = _statement("SELECT * FROM solomo_stats_raw_events(p_brand)", statement_file)
    return f"""
CREATE FUNCTION solomo_stats_fold_raw(p_brand uuid) RETURNS bigint
LANGUAGE plpgsql AS $fold$
-- Adds the brand's whole history, derived from its raw rows, to the rollups; answers the events added. For
-- the rebuild, which empties the brand's rollups and journal first and holds the brand's fold lock.
DECLARE
    v_events bigint;
BEGIN
{statement}
    RETURN v_events;
END;
$fold$
"""


def upgrade() -> None:
    op.execute("DROP FUNCTION solomo_stats_fold(uuid, boolean)")
    op.execute(fold())
    op.execute(fold_raw())


def downgrade() -> None:
    op.execute("DROP FUNCTION solomo_stats_fold_raw(uuid)")
    op.execute("DROP FUNCTION solomo_stats_fold(uuid, integer)")
    op.execute((HERE / "0012_stats_fold.sql").read_text())
