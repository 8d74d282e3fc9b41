"""The SQL functions the app installs, as their living files say: ``solomo/<domain>/sql/*.sql``.

Each function has one file next to the domain that owns it, and that file is the truth. A migration never reads
these files (later edits would rewrite history): it carries a copy of the text it installs in a folder of its own,
``migrations/versions/<revision>/``, which :func:`write_copies` makes. ``tests/test_living_sql.py`` checks that what
``upgrade head`` installs is exactly what the living files say, and that no function lives only in the database.

A file may include another with a line ``--@include NAME EVENTS: <sql>``: the fold statement of the stats
(``solomo/stats/sql/fold_statement.sql``) is one text that two functions run with different events.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).parents[1]

#: The living files, in the order they install (a SQL-language function must find what it calls).
FILES = (
    "ops/sql/charge_budget.sql",
    "ops/sql/budget_level.sql",
    "idempotency/sql/idempotent_replay.sql",
    "idempotency/sql/idempotent_save.sql",
    "hot/sql/member_request_opening.sql",
    "webhooks/sql/webhook_enqueue.sql",
    "geofences/sql/fences_at.sql",
    "offers/sql/in_weekly_hours.sql",
    "offers/sql/member_has_account.sql",
    "offers/sql/offer_admits.sql",
    "checkins/sql/record_check_in.sql",
    "checkins/sql/checkin_request.sql",
    "coupons/sql/claim_offer.sql",
    "coupons/sql/redeem_coupon.sql",
    "coupons/sql/code_throttle_level.sql",
    "coupons/sql/record_code_failure.sql",
    "coupons/sql/claim_request.sql",
    "coupons/sql/redeem_request.sql",
    "stats/sql/heatmap_cell.sql",
    "stats/sql/heatmap_rung.sql",
    "stats/sql/raw_events.sql",
    "stats/sql/fold.sql",
    "stats/sql/fold_raw.sql",
    "console/sql/console_session.sql",
)

_INCLUDE = re.compile(r"^--@include (?P<name>\S+) EVENTS: (?P<events>.+)$", re.MULTILINE)
_NAME = re.compile(r"^CREATE OR REPLACE FUNCTION (\w+)\(", re.MULTILINE)


def render(path: Path) -> str:
    """The text that installs the function of ``path``, its includes filled in."""

    def include(match: re.Match[str]) -> str:
        statement = (path.parent / match["name"]).read_text()
        return statement.replace("/*EVENTS*/", match["events"]).rstrip("\n")

    return _INCLUDE.sub(include, path.read_text())


def function_name(sql: str) -> str:
    match = _NAME.search(sql)
    if match is None:
        msg = "a living file holds one CREATE OR REPLACE FUNCTION"
        raise ValueError(msg)
    return match[1]


def living_functions() -> dict[str, str]:
    """Function name → the text that installs it, in install order."""
    texts = [render(PACKAGE / name) for name in FILES]
    return {function_name(sql): sql for sql in texts}


def write_copies(folder: Path, *names: str) -> list[Path]:
    """Copy the living texts (includes filled in) of the functions ``names`` (all when none is named) into a new
    migration's folder, numbered in install order."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for n, (name, sql) in enumerate(living_functions().items(), start=1):
        if names and name not in names:
            continue
        path = folder / f"{n:02d}_{name}.sql"
        path.write_text(sql)
        written.append(path)
    return written
