"""What a database failure means for the client: which ones are a 503 to retry, and which lose the connection.

A failure reaches us in several shapes: SQLAlchemy's ``DBAPIError`` wrapping the asyncpg adapter's error
(which carries the SQLSTATE) wrapping asyncpg's own exception; asyncpg's exception raw (``InternalClientError``
is never translated); an ``OSError`` or ``TimeoutError`` from connecting; SQLAlchemy's pool ``TimeoutError``.
:func:`database_fault` walks the chain once and names the fault; the error handler answers it.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
from sqlalchemy import exc as sa_exc

#: Scope state flag set on an answer whose transaction lost a race: ``RetryConflicts`` runs the request again.
RETRY_MARK: Final = "solomo_retry_transaction"
#: Serialization failure and deadlock: the transaction lost a race and may simply be run again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
#: The server ended or refused the session: admin/crash shutdown, starting up, database dropped.
_GONE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P04", "57P05", "25P03"})
_TIMEOUT_SQLSTATES = {
    "57014": "a statement ran longer than the server allows",
    "55P03": "a row it needs is locked by another transaction",
}
#: asyncpg errors that mean the connection can no longer be used ("cannot switch to state …", socket gone).
_LOST_CONNECTION_TYPES = (
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.PostgresConnectionError,
    ConnectionError,
)


@dataclass(frozen=True)
class DatabaseFault:
    """A failure the client may retry after ``retry_after`` seconds; ``retryable`` ones we retry ourselves first."""

    code: str
    detail: str
    retry_after: int
    retryable: bool = False


UNAVAILABLE = DatabaseFault("database_unavailable", "The database cannot be reached; try again shortly", 5)
BUSY = DatabaseFault("database_busy", "Every database connection is in use; try again shortly", 1)
CONFLICT = DatabaseFault(
    "database_conflict", "The change collided with a concurrent one and was not saved; try again", 1, retryable=True
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend([current.__context__, current.__cause__, getattr(current, "orig", None)])


def sqlstate_of(exc: BaseException) -> str | None:
    for err in _chain(exc):
        state = getattr(err, "sqlstate", None)
        if isinstance(state, str) and state:
            return state
    return None


def database_fault(exc: BaseException) -> DatabaseFault | None:
    """The 503 to answer for ``exc``, or None when it is not a database availability problem."""
    state = sqlstate_of(exc)
    if state is not None:
        if state in RETRYABLE_SQLSTATES:
            return CONFLICT
        if state in _TIMEOUT_SQLSTATES:
            detail = f"The database did not answer in time: {_TIMEOUT_SQLSTATES[state]}"
            return DatabaseFault("database_timeout", detail, 1)
        if state.startswith("53"):  # too many connections, out of memory or disk
            return BUSY
        if state.startswith("08") or state in _GONE_SQLSTATES:
            return UNAVAILABLE
    for err in _chain(exc):
        if isinstance(err, sa_exc.TimeoutError):  # no pooled connection came free within the pool timeout
            return BUSY
        if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
            return UNAVAILABLE
        if isinstance(err, (*_LOST_CONNECTION_TYPES, OSError, TimeoutError)):
            return UNAVAILABLE
        if isinstance(err, (sa_exc.OperationalError, sa_exc.InterfaceError)):  # the driver's own "cannot reach"
            return UNAVAILABLE
    return None


def loses_connection(exc: BaseException) -> bool:
    """The connection that raised ``exc`` must not go back to the pool (the server dropped or refused it)."""
    state = sqlstate_of(exc)
    if state is not None and (state.startswith("08") or state in _GONE_SQLSTATES):
        return True
    return any(isinstance(err, _LOST_CONNECTION_TYPES) for err in _chain(exc))


def mark_for_retry(scope: MutableMapping[str, Any]) -> None:
    """Called by the error handler for a deadlock or serialization failure."""
    scope.setdefault("state", {})[RETRY_MARK] = True
