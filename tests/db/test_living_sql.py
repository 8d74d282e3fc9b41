"""What ``upgrade head`` installs is exactly what the living files (``solomo/<domain>/sql/*.sql``) say.

Each living file is installed again inside a transaction that is rolled back: if that changes any function's
definition (its body, its arguments, its volatility…), or adds one (a changed signature makes an overload), the
file was edited without a migration that installs it. And every function of the app's own (not an extension's)
has a living file.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from solomo.db.functions import FILES, PACKAGE, function_name, living_functions, render

_INSTALLED = text(
    """
    SELECT p.oid::regprocedure::text AS signature, pg_get_functiondef(p.oid) AS definition
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                      AND d.deptype = 'e')
    """
)

_HOW = (
    "edit the living file and add a migration that installs that text (a copy in the migration's own folder:"
    " solomo.db.functions.write_copies); see docs/design.md"
)


async def _installed(session: AsyncSession) -> dict[str, str]:
    return {row.signature: row.definition for row in await session.execute(_INSTALLED)}


async def test_installed_functions_are_the_living_files(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        before = await _installed(session)
        for sql in living_functions().values():
            await session.execute(text(sql))
        after = await _installed(session)
        await session.rollback()
    changed = sorted(sig for sig in before.keys() & after.keys() if before[sig] != after[sig])
    assert not changed, f"installed text differs from the living file for {changed}: {_HOW}"
    assert after.keys() == before.keys(), f"a living file's signature is not the installed one: {_HOW}"


async def test_every_function_has_a_living_file(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        installed = {signature.split("(", 1)[0] for signature in await _installed(session)}
    assert installed, "upgrade head installs the app's functions"
    assert installed - living_functions().keys() == set(), "a function lives only in the database: give it a file"
    assert living_functions().keys() - installed == set(), "a living file that no migration installs"


def test_each_living_file_is_one_function_named_by_its_file() -> None:
    for name in FILES:
        path = PACKAGE / name
        sql = render(path)
        assert sql.count("CREATE OR REPLACE FUNCTION") == 1, name
        assert function_name(sql).endswith(Path(name).stem), name
        assert not re.search(r"^--@include", sql, re.MULTILINE), name
    statement = (PACKAGE / "stats" / "sql" / "fold_statement.sql").read_text()
    assert statement.count("/*EVENTS*/") == 1, "the fold statement has one events placeholder"
