"""Opaque keyset cursors: the sort key of the last row returned, so pages stay stable under inserts."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar

import msgspec
from litestar.params import Parameter
from sqlalchemy import Select, literal, tuple_

from solomo.errors import invalid

MAX_LIMIT = 500
Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="Page size (1 to 500).")]
Cursor = Annotated[str | None, Parameter(description="`next_cursor` from the previous page.", max_length=200)]


C = TypeVar("C", bound=msgspec.Struct)


def _decode(cursor: str, kind: type[C]) -> C:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=kind)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise invalid("cursor", "not a cursor this API returned", source="query") from exc


def _encode(cursor: msgspec.Struct) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


class _TimeIdCursor(msgspec.Struct, array_like=True):
    at: datetime
    id: uuid.UUID


def encode_time_id(at: datetime, row_id: uuid.UUID) -> str:
    return _encode(_TimeIdCursor(at, row_id))


def decode_time_id(cursor: str) -> tuple[datetime, uuid.UUID]:
    parsed = _decode(cursor, _TimeIdCursor)
    return parsed.at, parsed.id


class _LabelIdCursor(msgspec.Struct, array_like=True):
    label: str
    id: uuid.UUID


def encode_label_id(label: str, row_id: uuid.UUID) -> str:
    """A cursor for rows ordered by a name or title, then id."""
    return _encode(_LabelIdCursor(label, row_id))


def decode_label_id(cursor: str) -> tuple[str, uuid.UUID]:
    parsed = _decode(cursor, _LabelIdCursor)
    if "\x00" in parsed.label:  # PostgreSQL text cannot hold it: a forged cursor must not reach the database
        raise invalid("cursor", "not a cursor this API returned", source="query")
    return parsed.label, parsed.id


class _Keyed(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


K = TypeVar("K", bound=_Keyed)


def _created_at(row: Any) -> datetime:
    at: datetime = row.created_at
    return at


def split_page(rows: Sequence[K], limit: int, at: Callable[[K], datetime] = _created_at) -> tuple[list[K], str | None]:
    """Rows fetched with ``LIMIT limit + 1`` → the page, and a cursor if there is more.

    ``at``: the time the rows are ordered by (newest first, then id), ``created_at`` unless said otherwise.
    """
    if len(rows) <= limit:
        return list(rows), None
    last = rows[limit - 1]
    return list(rows[:limit]), encode_time_id(at(last), last.id)


def keyset_after(cursor: str | None, columns: str, params: dict[str, Any]) -> list[str]:
    """For raw SQL pages, newest first: the clause that continues after ``cursor`` (none for the first page).

    ``columns`` names the ordering time and id, e.g. ``"s.created_at, s.id"``; binds ``:at`` and ``:after``.
    """
    if not cursor:
        return []
    params["at"], params["after"] = decode_time_id(cursor)
    return [f"({columns}) < (CAST(:at AS timestamptz), CAST(:after AS uuid))"]


class _Timestamped(Protocol):
    created_at: Any
    id: Any


S = TypeVar("S", bound=Select[Any])


def newest_first_page(query: S, model: type[_Timestamped], cursor: str | None, limit: int) -> S:
    """An ORM select ordered newest first, continued after ``cursor``, fetching one row more than a page."""
    if cursor:
        at, after = decode_time_id(cursor)
        query = query.where(tuple_(model.created_at, model.id) < tuple_(literal(at), literal(after)))
    return query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)
