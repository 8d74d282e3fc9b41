"""One database session per request, committed before the answer is sent, and retried when it loses a race.

* The auth middleware and the handlers share the session Advanced Alchemy keeps in the ASGI scope
  (``db_config.provide_session``). The middleware runs its one statement in autocommit first; the handler's work
  is the next transaction on the same session.
* ``db_session`` is a dependency with ``yield``: Litestar resumes it after the handler returned and the
  response was built, but before a byte is sent. It commits there, so a 2xx goes out only once the commit
  succeeded; a failed commit is raised into the error handler (a 503). An error in the handler is thrown into
  it and rolls the transaction back.
* The ``before_send`` hook only closes the session (returning its connection) as the answer goes out:
  it never commits, unlike Advanced Alchemy's "autocommit" hook, which committed as the response started
  and only logged a failed commit.
* :class:`RetryConflicts` runs a request again, in a fresh transaction, when it failed on a deadlock or a
  serialization failure (the error handler marks the answer), a bounded number of times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Final

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from advanced_alchemy.extensions.litestar._utils import delete_aa_scope_state, get_aa_scope_state
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.db.faults import RETRY_MARK
from solomo.errors import ApiError

logger = logging.getLogger("solomo.db")

#: Route ``opt`` flag for handlers that run reports: their transaction gets the report statement timeout.
REPORT_QUERIES: Final = "solomo_report_queries"
_SET_STATEMENT_TIMEOUT = text("SELECT set_config('statement_timeout', :ms, true)")


def commit_failed() -> ApiError:
    return ApiError(
        HTTP_503_SERVICE_UNAVAILABLE,
        "commit_failed",
        "The change could not be saved. Send it again (with the same Idempotency-Key, if it had one).",
        headers={"Retry-After": "1"},
    )


def session_dependency(db_config: SQLAlchemyAsyncConfig, report_timeout_ms: int) -> Provide:
    """The ``db_session`` dependency: the request's session, committed after the handler, before the answer."""

    async def provide_db_session(state: State, scope: Scope) -> AsyncGenerator[AsyncSession, None]:
        session = db_config.provide_session(state, scope)
        handler = scope.get("route_handler")
        if handler is not None and handler.opt.get(REPORT_QUERIES):
            # Local to this transaction: the connection goes back to the pool with the short default.
            await session.execute(_SET_STATEMENT_TIMEOUT, {"ms": str(report_timeout_ms)})
        try:
            yield session
        except BaseException:
            with contextlib.suppress(Exception):  # a lost connection cannot roll back; it is discarded
                await session.rollback()
            raise
        try:
            await session.commit()
        except Exception as exc:
            logger.error("commit failed; answering 503", exc_info=exc)
            with contextlib.suppress(Exception):
                await session.rollback()
            raise commit_failed() from exc

    return Provide(provide_db_session)


def close_session_handler(session_scope_key: str) -> Callable[[Message, Scope], Awaitable[None]]:
    """``before_send``: close the request's session (nothing is committed here) as the answer starts, so its
    connection is not held while a slow client reads the body, and again after the last chunk, for a streamed
    answer that read more on the session while it was sent."""

    async def close_session(message: Message, scope: Scope) -> None:
        last = message["type"] == "http.response.body" and not message.get("more_body", False)
        if message["type"] != "http.response.start" and not last:
            return
        session = get_aa_scope_state(scope, session_scope_key)
        if session is None:
            return
        if last:
            delete_aa_scope_state(scope, session_scope_key)
        try:
            await session.close()  # rolls back whatever was left uncommitted (an error answer)
        except Exception:  # the connection died with the request: the pool drops it
            logger.warning("closing the request's session failed", exc_info=True)

    return close_session


class RetryConflicts:
    """Run the request again when its transaction deadlocked or failed to serialize, up to ``attempts`` times.

    The error answer of a failed attempt is held back (nothing has been sent); the last attempt's answer goes
    out whatever it is. The body is replayed from what the first attempt received. Placed inside the auth
    middleware, so a retry neither authenticates nor charges the caller again.
    """

    def __init__(self, app: ASGIApp, attempts: int = 3) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        body = _ReplayedBody(receive)
        for attempt in range(1, self.attempts + 1):
            held = _HoldRetriedAnswer(scope, send, last=attempt == self.attempts)
            await self.app(scope, body.receiver(), held.send)
            if not held.holding:
                return
            logger.info("transaction conflict, retrying the request (attempt %d of %d)", attempt, self.attempts)
            await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311 - jitter, not a secret


class _ReplayedBody:
    """What the client sent, recorded as the first attempt reads it and replayed to the next ones."""

    def __init__(self, receive: Receive) -> None:
        self.source = receive
        self.received: list[ReceiveMessage] = []

    def receiver(self) -> Receive:
        replay = list(self.received)

        async def receive() -> ReceiveMessage:
            if replay:
                return replay.pop(0)
            message = await self.source()
            self.received.append(message)
            return message

        return receive


class _HoldRetriedAnswer:
    def __init__(self, scope: Scope, send: Send, *, last: bool) -> None:
        self.scope = scope
        self.downstream = send
        self.last = last
        self.holding = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            state: dict[str, Any] = self.scope.setdefault("state", {})
            self.holding = bool(state.pop(RETRY_MARK, False)) and not self.last
        if not self.holding:
            await self.downstream(message)
