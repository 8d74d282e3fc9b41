"""Whether the schema a database holds can be distributed as ``distribute.sql`` says, checked on plain PostgreSQL.

Citus is not installed here, so nothing runs ``distribute.sql``; instead :func:`problems` reads the catalog of a
migrated database and answers, in words, every rule the plan would break on a real cluster:

* every table is in exactly one list (reference, distributed, local), and each list names only tables that exist;
* a distributed table has ``brand_id``, and its primary key, unique constraints and unique indexes include it;
* a foreign key between distributed tables joins ``brand_id`` to ``brand_id``; one from a reference table points
  only at reference tables; none points at a local table; parents are distributed before their children;
* every function that writes a distributed table (itself, or through another ``solomo_`` function it calls) is
  distributed by an argument that is its first, a ``uuid`` (the brand), in the one co-location group;
* no UPDATE, DELETE or ``ON CONFLICT … DO UPDATE`` in a function calls a volatile function (Citus refuses them on
  distributed tables, and a value that differs per shard would make a row's copies disagree);
* every statement of a function that reads or writes a distributed table names the brand for each of them
  (``alias.brand_id = p_brand``, or a join on ``brand_id`` to a table that does; an INSERT gives ``brand_id`` the
  value ``p_brand``): that is what lets Citus run the statement, and a delegated call, on the brand's shard. This
  one is read from the function's text with patterns, not parsed: it can be fooled by an alias used twice in one
  statement, but not into naming a statement that does name its brand.

``tests/db/test_citus_ready.py`` runs it on the migrated test database and shows it catches each kind of mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

DISTRIBUTE_SQL = Path(__file__).with_name("distribute.sql")
DISTRIBUTION_COLUMN = "brand_id"

_REFERENCE = re.compile(r"create_reference_table\('(\w+)'\)")
_DISTRIBUTED = re.compile(r"create_distributed_table\('(\w+)', '(\w+)', colocate_with => '(\w+)'\)")
_FUNCTION = re.compile(r"create_distributed_function\('([^']+)', '(\w+)', colocate_with => '(\w+)'")
_LOCAL = re.compile(r"^-- local: (.+)$", re.MULTILINE)
#: Functions whose value differs per call (and so per shard, or per copy of a row).
VOLATILE_CALLS = ("random", "gen_random_uuid", "clock_timestamp", "timeofday", "uuid_generate_v4", "nextval")
_WRITE = re.compile(r"\b(?:INSERT\s+INTO|(?<!FOR )UPDATE|DELETE\s+FROM)\s+(\w+)", re.IGNORECASE)
_CALL = re.compile(r"\b(solomo_\w+)\s*\(")
_CHANGE = re.compile(r"\b(?:(?<!FOR )UPDATE\s+\w+\s|DELETE\s+FROM\s+\w+|DO\s+UPDATE)(?P<body>[^;]*)", re.IGNORECASE)


@dataclass
class Plan:
    """What ``distribute.sql`` says, in its order."""

    reference: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)
    #: (table, distribution column, colocate_with)
    distributed: list[tuple[str, str, str]] = field(default_factory=list)
    #: (signature, distribution argument, colocate_with)
    functions: list[tuple[str, str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, sql: str) -> Plan:
        plan = cls()
        plan.reference = _REFERENCE.findall(sql)
        plan.distributed = _DISTRIBUTED.findall(sql)
        plan.functions = _FUNCTION.findall(sql)
        plan.local = [name.strip() for line in _LOCAL.findall(sql) for name in line.split(",")]
        return plan

    @classmethod
    def load(cls) -> Plan:
        return cls.parse(DISTRIBUTE_SQL.read_text())

    @property
    def distributed_tables(self) -> list[str]:
        return [t for t, _, _ in self.distributed]


_TABLES = text(
    """
    SELECT c.relname FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
    ORDER BY 1
    """
)
_COLUMNS = text(
    """
    SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    """
)
#: Primary keys, unique constraints and unique indexes (partial ones included), with their columns.
_UNIQUES = text(
    """
    SELECT t.relname AS table_name, i.relname AS index_name,
           ARRAY(SELECT a.attname FROM unnest(x.indkey) AS k(n)
                 JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n) AS columns
    FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
    WHERE x.indisunique AND t.relnamespace = 'public'::regnamespace AND NOT t.relispartition
    """
)
_FOREIGN_KEYS = text(
    """
    SELECT con.conname, c.relname AS child, p.relname AS parent,
           ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(n, i)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS columns,
           ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(n, i)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) AS parent_columns
    FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_class p ON p.oid = con.confrelid
    WHERE con.contype = 'f' AND c.relnamespace = 'public'::regnamespace AND NOT c.relispartition
    """
)
_FUNCTIONS = text(
    """
    SELECT p.oid, p.proname, p.prosrc, p.proargnames,
           ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) AS t) AS argtypes
    FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                      AND d.deptype = 'e')
    """
)
_SIGNATURE = text("SELECT to_regprocedure(:signature)::oid")


@dataclass(frozen=True)
class _Function:
    oid: int
    name: str
    source: str
    arg_names: list[str]
    arg_types: list[str]


async def problems(conn: AsyncConnection, plan: Plan) -> list[str]:
    """Every way the database's schema breaks ``plan`` (empty when it would distribute as planned)."""
    found: list[str] = []
    tables = list(await conn.scalars(_TABLES))
    columns: dict[str, set[str]] = {}
    for row in await conn.execute(_COLUMNS):
        columns.setdefault(row.relname, set()).add(row.attname)
    found += _lists(plan, tables)
    found += _distributed_keys(plan, columns, list(await conn.execute(_UNIQUES)))
    found += _foreign_keys(plan, list(await conn.execute(_FOREIGN_KEYS)))
    functions = [
        _Function(r.oid, r.proname, r.prosrc, list(r.proargnames or []), list(r.argtypes))
        for r in await conn.execute(_FUNCTIONS)
    ]
    listed: dict[int, tuple[str, str, str]] = {}
    for signature, argument, colocate in plan.functions:
        oid = await conn.scalar(_SIGNATURE, {"signature": signature})
        if oid is None:
            found.append(f"distribute.sql distributes {signature}, which does not exist")
        else:
            listed[oid] = (signature, argument, colocate)
    found += _writers(plan, functions, listed)
    found += _volatile_changes(plan, functions)
    found += _unrouted_statements(plan, functions)
    return found


def _lists(plan: Plan, tables: list[str]) -> list[str]:
    found = []
    named = plan.reference + plan.local + plan.distributed_tables
    for table in tables:
        count = named.count(table)
        if count == 0:
            found.append(f"table {table} is in no list of distribute.sql (reference, distributed or local)")
        elif count > 1:
            found.append(f"table {table} is in more than one list of distribute.sql")
    found += [f"distribute.sql names {t}, which is not a table of the schema" for t in named if t not in tables]
    anchor = plan.distributed[0][0] if plan.distributed else None
    for position, (table, column, colocate) in enumerate(plan.distributed):
        if column != DISTRIBUTION_COLUMN:
            found.append(f"{table} is distributed by {column}, not {DISTRIBUTION_COLUMN}")
        expected = "none" if position == 0 else anchor
        if colocate != expected:
            found.append(f"{table} is co-located with {colocate}, not {expected} (one group, anchored on {anchor})")
    return found


def _distributed_keys(plan: Plan, columns: dict[str, set[str]], uniques: list[object]) -> list[str]:
    found = []
    distributed = set(plan.distributed_tables)
    for table in plan.distributed_tables:
        if DISTRIBUTION_COLUMN not in columns.get(table, set()):
            found.append(f"distributed table {table} has no {DISTRIBUTION_COLUMN} column")
    for row in uniques:
        table, index, cols = row.table_name, row.index_name, list(row.columns)  # type: ignore[attr-defined]
        if table in distributed and DISTRIBUTION_COLUMN not in cols:
            found.append(
                f"{index} on distributed table {table} is unique on ({', '.join(cols)}) without {DISTRIBUTION_COLUMN}:"
                " Citus can only enforce uniqueness within a shard"
            )
    return found


def _foreign_keys(plan: Plan, keys: list[object]) -> list[str]:
    found = []
    distributed = set(plan.distributed_tables)
    reference = set(plan.reference)
    order = {t: i for i, t in enumerate(plan.reference + plan.distributed_tables)}
    for row in keys:
        name, child, parent = row.conname, row.child, row.parent  # type: ignore[attr-defined]
        cols, parent_cols = list(row.columns), list(row.parent_columns)  # type: ignore[attr-defined]
        if child in reference and parent not in reference:
            found.append(f"{name}: reference table {child} points at {parent}, which is not a reference table")
        if child in distributed and parent in distributed:
            pairs = list(zip(cols, parent_cols, strict=True))
            if (DISTRIBUTION_COLUMN, DISTRIBUTION_COLUMN) not in pairs:
                found.append(
                    f"{name}: {child} ({', '.join(cols)}) → {parent} ({', '.join(parent_cols)}) does not join"
                    f" {DISTRIBUTION_COLUMN} to {DISTRIBUTION_COLUMN}"
                )
        if (child in distributed or child in reference) and parent not in distributed | reference:
            found.append(f"{name}: {child} points at {parent}, a table that stays local to the coordinator")
        if child in order and parent in order and child != parent and order[parent] > order[child]:
            found.append(f"{name}: distribute.sql distributes {child} before its parent {parent}")
    return found


def _writers(plan: Plan, functions: list[_Function], listed: dict[int, tuple[str, str, str]]) -> list[str]:
    distributed = set(plan.distributed_tables)
    by_name: dict[str, list[_Function]] = {}
    for f in functions:
        by_name.setdefault(f.name, []).append(f)
    writes = {f.oid for f in functions if any(t in distributed for t in _WRITE.findall(f.source))}
    # A function that calls a writer writes too.
    changed = True
    while changed:
        changed = False
        for f in functions:
            if f.oid not in writes and any(
                g.oid in writes for name in _CALL.findall(f.source) for g in by_name.get(name, [])
            ):
                writes.add(f.oid)
                changed = True
    anchor = plan.distributed[0][0] if plan.distributed else None
    found = []
    for f in functions:
        if f.oid not in writes:
            continue
        if f.oid not in listed:
            found.append(f"{f.name} writes distributed tables and is not distributed (distribute.sql)")
            continue
        signature, argument, colocate = listed[f.oid]
        if not f.arg_names or f.arg_names[0] != argument or f.arg_types[0] != "uuid":
            found.append(
                f"{signature} is distributed by {argument}, which is not its first argument, a uuid (the brand)"
            )
        if colocate != anchor:
            found.append(f"{signature} is co-located with {colocate}, not {anchor}")
    return found


def _volatile_changes(plan: Plan, functions: list[_Function]) -> list[str]:
    found = []
    calls = re.compile(r"\b(" + "|".join(VOLATILE_CALLS) + r")\s*\(", re.IGNORECASE)
    for f in functions:
        for change in _CHANGE.finditer(f.source):
            volatile = calls.findall(change.group("body"))
            if volatile:
                statement = " ".join(change.group(0).split())[:80]
                found.append(f"{f.name}: {volatile[0]}() in a change of rows ({statement} …)")
    return found


_REFERENCE_TO = re.compile(
    r"\b(?P<how>FROM|JOIN|(?<!FOR )UPDATE|INSERT\s+INTO)\s+(?P<table>\w+)(?:\s+(?:AS\s+)?(?P<alias>\w+))?",
    re.IGNORECASE,
)
_NOT_ALIASES = {
    "where", "on", "set", "join", "left", "right", "inner", "cross", "using", "order", "group", "limit", "for", "with",
    "select", "values", "returning", "as", "natural", "full", "union", "except", "intersect", "window", "having",
}  # fmt: skip
_COMMENT = re.compile(r"--[^\n]*")


def _statements(source: str) -> list[str]:
    return [s for s in _COMMENT.sub("", source).split(";") if s.strip()]


def _unrouted_statements(plan: Plan, functions: list[_Function]) -> list[str]:
    distributed = set(plan.distributed_tables)
    found = []
    for f in functions:
        if "p_brand" not in f.arg_names:
            continue
        for statement in _statements(f.source):
            # A CTE may share a table's name (record_check_in's `stores`): what it names is the CTE.
            ctes = set(re.findall(r"\b(\w+)\s+AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(", statement, re.IGNORECASE))
            refs = [
                m
                for m in _REFERENCE_TO.finditer(statement)
                if m.group("table") in distributed and m.group("table") not in ctes
            ]
            if not refs:
                continue
            anchored = _anchored_aliases(statement)
            for ref in refs:
                table = ref.group("table")
                alias = ref.group("alias")
                name = alias if alias and alias.lower() not in _NOT_ALIASES else table
                if ref.group("how").upper().startswith("INSERT"):
                    ok = _insert_names_the_brand(statement, ref.end())
                else:
                    ok = name in anchored
                if not ok:
                    found.append(f"{f.name}: a statement reads or writes {table} ({name}) without naming its brand")
    return sorted(set(found))


def _anchored_aliases(statement: str) -> set[str]:
    """The aliases (or table names) this statement ties to p_brand, directly or by a join on brand_id."""
    anchored = set(re.findall(r"\b(\w+)\.brand_id\s*=\s*p_brand\b", statement))
    anchored |= set(re.findall(r"\bp_brand\s*=\s*(\w+)\.brand_id\b", statement))
    if re.search(r"(?<![.\w])brand_id\s*=\s*p_brand\b", statement):
        anchored.add("")
    joins = re.findall(r"\b(\w+)\.brand_id\s*=\s*(\w+)\.brand_id\b", statement)
    changed = True
    while changed:
        changed = False
        for a, b in joins:
            if (a in anchored) != (b in anchored):
                anchored |= {a, b}
                changed = True
    if "" in anchored:
        # An unqualified brand_id = p_brand names the tables read without an alias (DELETE FROM t WHERE …).
        anchored |= {
            m.group("table")
            for m in _REFERENCE_TO.finditer(statement)
            if not m.group("alias") or m.group("alias").lower() in _NOT_ALIASES
        }
    return anchored


def _insert_names_the_brand(statement: str, after: int) -> bool:
    """An INSERT whose column list has brand_id and whose VALUES or SELECT list gives p_brand."""
    rest = statement[after:]
    columns = re.match(r"\s*\(([^)]*)\)", rest)
    if columns is None or "brand_id" not in [c.strip() for c in columns.group(1).split(",")]:
        return False
    values = re.match(r"\s*(?:VALUES\s*\(|SELECT\s+(?:DISTINCT\s+)?)", rest[columns.end() :], re.IGNORECASE)
    return values is not None and "p_brand" in rest[columns.end() : columns.end() + values.end() + 400]
