"""Sending one signed message to one endpoint, SSRF-safe: what the worker and the test button both call.

Why httpcore, with a network backend of our own (``PinnedBackend``): httpcore asks its network backend to
``connect_tcp(host, port)`` for a new connection and then, for https, wraps that stream in TLS with
``server_hostname`` = the URL's host. Our backend resolves the host itself, checks every address
(addresses.py), and opens the socket to a checked IP literal (the inner backend does no DNS for an IP), so there
is exactly one resolution and the connection goes where it was checked: DNS rebinding cannot slip in between.
TLS still sends SNI for the host name and verifies the certificate against it (httpcore's ``start_tls``), and the
Host header is the name. httpx was not used: its transport takes no network backend, and it reads proxy settings
from the environment, which would route around the pinning. httpcore follows no redirects and retries nothing.

Every answer is read up to 64 KiB and no further (the rest is never buffered; the connection is then closed,
not reused); the attempt keeps its first 1 KiB as text. A 3xx is a failed attempt (error ``redirect``), never
followed. The whole attempt (DNS, connect, TLS, request, answer) has 15 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

import httpcore

from solomo import __version__
from solomo.config import Settings
from solomo.webhooks.addresses import AddressRefusedError, Resolver, check_url, checked_addresses, system_resolver
from solomo.webhooks.schedule import parse_retry_after
from solomo.webhooks.signing import signature_header, wire_id
from solomo.webhooks.urls import UrlRules

logger = logging.getLogger("solomo.webhooks")
USER_AGENT = f"SoLoMo-Webhooks/{__version__}"
TIMEOUT_S = 15.0
MAX_ANSWER_BYTES = 64 * 1024
EXCERPT_BYTES = 1024
#: An idle kept connection is closed after this long.
KEEPALIVE_S = 30.0

AttemptError = Literal["timeout", "redirect", "address_refused", "connection_failed", "too_large"]


@dataclass(frozen=True, slots=True)
class EndpointForSending:
    """What sending needs of an endpoint: where, and the secrets that sign (both during a rotation's overlap)."""

    id: uuid.UUID
    url: str
    secret: str
    previous_secret: str | None = None
    previous_secret_until: datetime | None = None

    def signing_secrets(self, now: datetime) -> list[str]:
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_until is not None and self.previous_secret_until > now:
            secrets.append(self.previous_secret)
        return secrets


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """One attempt: delivered when the answer was 2xx. ``error`` says why there was no usable answer (or, with
    ``too_large``, that the answer was cut at 64 KiB: ``delivered`` still follows its status)."""

    delivered: bool
    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: AttemptError | None
    #: What the answer's Retry-After asked for, in seconds (the schedule decides what to make of it).
    retry_after_s: float | None = None


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses that passed the SSRF policy, resolved once, by us (see the module's text)."""

    def __init__(self, *, allow_loopback: bool, resolver: Resolver) -> None:
        self._allow_loopback = allow_loopback
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, allow_loopback=self._allow_loopback, resolver=self._resolver)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # checked_addresses never answers an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefusedError("unix sockets are not webhook endpoints")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Connections:
    """Kept-alive connections by origin, each used by one request at a time, so that a busy endpoint is not
    connected to (and its name not resolved) for every message.

    Not httpcore's own AsyncConnectionPool: for every request it queues, that pool re-examines every connection
    it holds (each look a getpeername and a poll), which cost the worker 4.8 ms of CPU per message at 16 sends at
    once (bench/webhook_delivery.py). Here a connection is looked at once, when it is taken. Connections are made
    by the same PinnedBackend, so a kept connection went to an address that was checked when it was opened.
    """

    def __init__(self, ssl_context: ssl.SSLContext, backend: PinnedBackend, *, keep_per_origin: int) -> None:
        self._ssl_context = ssl_context
        self._backend = backend
        self._keep = keep_per_origin
        self._idle: dict[tuple[bytes, bytes, int], list[httpcore.AsyncHTTPConnection]] = {}

    async def _take(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        idle = self._idle.get(_key(origin), [])
        while idle:
            connection = idle.pop()
            if connection.is_idle() and not connection.has_expired():
                return connection
            await connection.aclose()
        return httpcore.AsyncHTTPConnection(
            origin=origin, ssl_context=self._ssl_context, keepalive_expiry=KEEPALIVE_S, network_backend=self._backend
        )

    @contextlib.asynccontextmanager
    async def stream(self, request: httpcore.Request, body: bytes) -> AsyncIterator[httpcore.Response]:
        connection = await self._take(request.url.origin)
        try:
            async with connection.stream(
                "POST", request.url, headers=request.headers, content=body, extensions=request.extensions
            ) as response:
                yield response
        finally:
            # Back to the idle list only when the exchange ended cleanly (an answer cut at 64 KiB, a timeout or an
            # error leaves the connection closed or mid-message: it is closed, never reused).
            idle = self._idle.setdefault(_key(request.url.origin), [])
            if connection.is_idle() and not connection.is_closed() and len(idle) < self._keep:
                idle.append(connection)
            else:
                with contextlib.suppress(Exception):
                    await connection.aclose()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                with contextlib.suppress(Exception):
                    await connection.aclose()


def _key(origin: httpcore.Origin) -> tuple[bytes, bytes, int]:
    return origin.scheme, origin.host, origin.port  # httpcore's Origin compares equal but does not hash


class Sender:
    """Sends messages over one connection pool (kept-alive connections were checked when they were opened)."""

    def __init__(
        self,
        settings: Settings,
        *,
        resolver: Resolver = system_resolver,
        timeout_s: float = TIMEOUT_S,
        max_connections: int = 16,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.rules = UrlRules.from_settings(settings)
        self.timeout_s = timeout_s
        self._connections = _Connections(
            ssl_context or ssl.create_default_context(),
            PinnedBackend(allow_loopback=self.rules.allow_loopback, resolver=resolver),
            keep_per_origin=max_connections,
        )

    async def aclose(self) -> None:
        await self._connections.aclose()

    async def send(self, endpoint: EndpointForSending, message_id: uuid.UUID | str, body: bytes) -> AttemptResult:
        """Send ``body`` signed as ``message_id``; never raises for anything the endpoint or the network does."""
        started = time.monotonic()
        status: int | None = None
        excerpt = b""
        size = 0
        retry_after: str | None = None
        error: AttemptError | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                check_url(endpoint.url, self.rules)
                request = self._request(endpoint, wire_id(message_id), body)
                async with self._connections.stream(request, body) as response:
                    status = response.status
                    retry_after = _header(response.headers, b"retry-after")
                    async for chunk in response.aiter_stream():
                        size += len(chunk)
                        if len(excerpt) < EXCERPT_BYTES:
                            excerpt += chunk[: EXCERPT_BYTES - len(excerpt)]
                        if size > MAX_ANSWER_BYTES:
                            error = "too_large"
                            break  # leaving the block closes the connection: the rest is never read
        except AddressRefusedError:
            error = "address_refused"
        except (TimeoutError, httpcore.TimeoutException):
            error = "timeout"
        except (OSError, httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol):
            error = "connection_failed"
        except Exception:  # a bug of ours or a library's must not stop the worker: log it, count a failure
            logger.exception("webhook send failed unexpectedly", extra={"endpoint_id": str(endpoint.id)})
            error = "connection_failed"
        latency_ms = round((time.monotonic() - started) * 1000)
        if status is not None and 300 <= status < 400:
            error = "redirect"
        return AttemptResult(
            delivered=status is not None and 200 <= status < 300,
            status_code=status,
            latency_ms=latency_ms,
            excerpt=excerpt.decode("utf-8", errors="replace") if status is not None else None,
            error=error,
            retry_after_s=parse_retry_after(retry_after) if status is not None else None,
        )

    def _request(self, endpoint: EndpointForSending, msg_id: str, body: bytes) -> httpcore.Request:
        parts = urlsplit(endpoint.url)
        host = _ascii_host(parts.hostname or "")
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        shown_host = f"[{host}]" if ":" in host else host
        default = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
        now = datetime.now(UTC)
        timestamp = int(now.timestamp())
        headers = [
            (b"Host", (shown_host if default else f"{shown_host}:{port}").encode("ascii")),
            (b"Content-Type", b"application/json"),
            (b"User-Agent", USER_AGENT.encode()),
            (b"webhook-id", msg_id.encode()),
            (b"webhook-timestamp", str(timestamp).encode()),
            (b"webhook-signature", signature_header(endpoint.signing_secrets(now), msg_id, timestamp, body).encode()),
        ]
        timeouts = dict.fromkeys(("connect", "read", "write", "pool"), self.timeout_s)
        url = httpcore.URL(scheme=scheme.encode(), host=host.encode("ascii"), port=port, target=target.encode())
        return httpcore.Request("POST", url, headers=headers, extensions={"timeout": timeouts})


def _ascii_host(host: str) -> str:
    """The host as it goes on the wire: an internationalised name in its IDNA (punycode) form."""
    try:
        return host.encode("ascii").decode("ascii")
    except UnicodeEncodeError:
        return host.encode("idna").decode("ascii")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def send_once(
    endpoint: EndpointForSending,
    message_id: uuid.UUID | str,
    body: bytes,
    settings: Settings,
    *,
    resolver: Resolver = system_resolver,
    timeout_s: float = TIMEOUT_S,
) -> AttemptResult:
    """Send one message right now, outside the worker (the API's test button). Never raises for the endpoint's
    doing: a refused address and an unreachable one both come back as a failed AttemptResult, and the API
    answers them with one generic error so the button cannot map a network."""
    sender = Sender(settings, resolver=resolver, timeout_s=timeout_s, max_connections=1)
    try:
        return await sender.send(endpoint, message_id, body)
    finally:
        with contextlib.suppress(Exception):
            await sender.aclose()
