"""Structured (JSON line) logs, and one log line per request.

Request lines name the route template, never the raw path or query (which can hold coupon codes or
coordinates), and never a member id: erasure cannot reach log files already shipped elsewhere, so
personal data is kept out of them in the first place. Every other line logged while a request runs (an
error's traceback, say) carries the same ``request_id``.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from solomo.auth.principal import Principal

_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
request_logger = logging.getLogger("solomo.request")
#: The id of the request being answered, for every line logged while it runs.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


#: msgspec rather than json.dumps: a request line is written for every request, so its cost is the API's.
_ENCODER = msgspec.json.Encoder(enc_hook=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        request_id = current_request_id.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry).decode()


def configure_logging(level: str) -> None:
    root = logging.getLogger("solomo")
    if not any(getattr(h, "_solomo", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler._solomo = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)


class RequestLogMiddleware:
    """Logs method, route, status, duration, request id and brand; echoes ``X-Request-ID``.

    It wraps the whole application (see ``create_app``), outside Litestar's own exception handler: route
    middleware never sees an unknown path's 404, and an error raised by middleware (a 401 from
    authentication, a 503 when the database is down) is answered by that outer handler, after the route
    middleware has already unwound.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex
        status = 500
        token = current_request_id.set(request_id)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Appended as raw bytes: nothing upstream sets this header, so there is nothing to replace.
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            current_request_id.reset(token)
            if request_logger.isEnabledFor(logging.INFO):
                user = scope.get("user")
                request_logger.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "route": scope.get("path_template") or "(unmatched)",
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "brand_id": str(user.brand_id) if isinstance(user, Principal) else None,
                        "caller": user.role.value if isinstance(user, Principal) else None,
                    },
                )
