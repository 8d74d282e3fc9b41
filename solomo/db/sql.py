"""Helpers for the plain SQL the services write with ``text()``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BindParameter, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID

UUID_ARRAY = ARRAY(UUID(as_uuid=True))
_UNSET: Any = object()


def uuids(name: str, value: Any = _UNSET) -> BindParameter[Any]:
    """A parameter holding a list of UUIDs: a bare Python list would not tell asyncpg the array's type."""
    if value is _UNSET:
        return bindparam(name, type_=UUID_ARRAY)
    return bindparam(name, value=value, type_=UUID_ARRAY)


def sql_with_uuids(sql: str, name: str, *more: str) -> TextClause:
    """``text(sql)`` whose parameters ``name`` (and ``more``) are lists of UUIDs."""
    return text(sql).bindparams(*(uuids(n) for n in (name, *more)))
