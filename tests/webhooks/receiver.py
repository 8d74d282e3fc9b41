"""A webhook receiver for the tests: plain HTTP/1.1 on 127.0.0.1, answering as each test scripts it.

Written on asyncio streams rather than with a web framework so that a test can answer anything at all: a redirect,
a Retry-After, a body far over 64 KiB, or nothing for a long time. Each connection takes one request and is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from solomo.config import Settings


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b"ok"
    #: Seconds to wait before answering (a slow receiver).
    delay_s: float = 0.0


@dataclass(frozen=True)
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers the scripted answers in order, then ``default`` to every request after them."""

    default: Answer = field(default_factory=Answer)
    script: list[Answer] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    #: How many requests are being answered right now, and the most there ever were at once.
    busy: int = 0
    most_busy: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def settings(self, base: Settings) -> Settings:
        """``base`` with what a local receiver needs: http, loopback, and this receiver's port."""
        import dataclasses

        return dataclasses.replace(
            base, webhook_allow_http=True, webhook_allow_loopback=True, webhook_allowed_ports=(self.port,)
        )

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {}
            for line in lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(method, target, headers, body))
            answer = self.script.pop(0) if self.script else self.default
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
            try:
                await asyncio.sleep(answer.delay_s)
            finally:
                self.busy -= 1
            reason = "OK" if answer.status < 400 else "Error"
            out = [f"HTTP/1.1 {answer.status} {reason}", f"Content-Length: {len(answer.body)}", "Connection: close"]
            out += [f"{name}: {value}" for name, value in answer.headers]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
            writer.write(answer.body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client gave up (a timeout, or an answer it stopped reading)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def running_receiver(*script: Answer, default: Answer | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver(default=default or Answer(), script=list(script))
    server = await asyncio.start_server(receiver._handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)
