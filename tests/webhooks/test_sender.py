"""One send: what counts as delivered, redirects, timeouts, the 64 KiB cap, Retry-After, and the pinned connection."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from solomo.config import Settings
from solomo.webhooks.schedule import DELAYS_S, MAX_ATTEMPTS, RETRY_AFTER_CAP_S, parse_retry_after, retry_delay
from solomo.webhooks.sender import EXCERPT_BYTES, EndpointForSending, Sender, send_once
from tests.webhooks.receiver import Answer, running_receiver
from tests.webhooks.test_signing import new_secret


def endpoint(url: str) -> EndpointForSending:
    return EndpointForSending(uuid.uuid4(), url, new_secret())


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
async def test_any_2xx_is_delivered(status: int, settings: Settings) -> None:
    async with running_receiver(Answer(status, body=b"" if status == 204 else b"thanks")) as receiver:
        result = await send_once(endpoint(receiver.url()), uuid.uuid4(), b"{}", receiver.settings(settings))
    assert (result.delivered, result.status_code, result.error) == (True, status, None)
    assert result.excerpt == ("" if status == 204 else "thanks")
    assert result.latency_ms >= 0


@pytest.mark.parametrize("status", [400, 401, 404, 409, 410, 429, 500, 502, 503])
async def test_anything_else_is_a_failure_with_its_status_and_answer(status: int, settings: Settings) -> None:
    async with running_receiver(Answer(status, body="nope \xff".encode("latin-1"))) as receiver:
        result = await send_once(endpoint(receiver.url()), uuid.uuid4(), b"{}", receiver.settings(settings))
    assert (result.delivered, result.status_code, result.error) == (False, status, None)
    assert result.excerpt == "nope \ufffd"  # bytes that are not UTF-8 become replacement characters


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(settings: Settings) -> None:
    async with running_receiver() as receiver:
        receiver.script.append(Answer(302, headers=(("Location", receiver.url("/elsewhere")),)))
        result = await send_once(endpoint(receiver.url()), uuid.uuid4(), b"{}", receiver.settings(settings))
    assert (result.delivered, result.status_code, result.error) == (False, 302, "redirect")
    assert [r.target for r in receiver.received] == ["/hook"]


async def test_a_slow_receiver_times_out(settings: Settings) -> None:
    async with running_receiver(Answer(200, delay_s=5)) as receiver:
        started = asyncio.get_running_loop().time()
        result = await send_once(
            endpoint(receiver.url()), uuid.uuid4(), b"{}", receiver.settings(settings), timeout_s=0.3
        )
        elapsed = asyncio.get_running_loop().time() - started
    assert (result.delivered, result.status_code, result.error) == (False, None, "timeout")
    assert elapsed < 2


async def test_an_answer_over_64_kib_is_cut(settings: Settings) -> None:
    huge = b"x" * (1024 * 1024)
    async with running_receiver(Answer(200, body=huge), Answer(500, body=huge)) as receiver:
        ok = await send_once(endpoint(receiver.url()), uuid.uuid4(), b"{}", receiver.settings(settings))
        failed = await send_once(endpoint(receiver.url()), uuid.uuid4(), b"{}", receiver.settings(settings))
    assert (ok.delivered, ok.status_code, ok.error) == (True, 200, "too_large")
    assert (failed.delivered, failed.status_code, failed.error) == (False, 500, "too_large")
    assert ok.excerpt == "x" * EXCERPT_BYTES


async def test_retry_after_is_read_in_seconds_and_as_a_date(settings: Settings) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    script = [Answer(503, headers=(("Retry-After", "120"),)), Answer(429, headers=(("Retry-After", later),))]
    async with running_receiver(*script) as receiver:
        seconds = await send_once(endpoint(receiver.url()), uuid.uuid4(), b"{}", receiver.settings(settings))
        dated = await send_once(endpoint(receiver.url()), uuid.uuid4(), b"{}", receiver.settings(settings))
    assert seconds.retry_after_s == 120
    assert dated.retry_after_s is not None
    assert 7190 < dated.retry_after_s <= 7200


def test_the_schedule_with_jitter_and_retry_after() -> None:
    assert MAX_ATTEMPTS == 8
    for attempts, base in enumerate(DELAYS_S, start=1):
        assert retry_delay(attempts, rand=lambda: 0.0) == pytest.approx(base * 0.9)
        assert retry_delay(attempts, rand=lambda: 1.0) == pytest.approx(base * 1.1)
    assert retry_delay(MAX_ATTEMPTS) is None
    assert retry_delay(1, 3600, rand=lambda: 0.5) == 3600  # asks for longer: honoured
    assert retry_delay(3, 60, rand=lambda: 0.5) == 1800  # asks for less: the schedule stands
    assert retry_delay(1, 10**9, rand=lambda: 0.5) == RETRY_AFTER_CAP_S  # capped at 10 h
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: now


async def test_the_connection_goes_to_the_resolved_address_with_the_host_name_kept(settings: Settings) -> None:
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    async with running_receiver() as receiver:
        url = f"http://receiver.test:{receiver.port}/hook?x=1"
        sender = Sender(receiver.settings(settings), resolver=resolver)
        try:
            result = await sender.send(endpoint(url), uuid.uuid4(), b"{}")
        finally:
            await sender.aclose()
    assert result.delivered, result
    # receiver.test exists in no DNS: the request reached 127.0.0.1 only because the socket went where we resolved.
    assert asked == ["receiver.test"]
    [got] = receiver.received
    assert (got.target, got.headers["host"]) == ("/hook?x=1", f"receiver.test:{receiver.port}")


@dataclasses.dataclass
class TlsReceiver:
    port: int
    client_context: ssl.SSLContext
    server_names: list[str | None]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for the name ``receiver.test``, made with the openssl command."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl = shutil.which("openssl")
    assert openssl is not None, "the TLS test needs the openssl command (apt-get install openssl)"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=receiver.test",
         "-addext", "subjectAltName=DNS:receiver.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@contextlib.asynccontextmanager
async def tls_receiver(cert: Path, key: Path) -> AsyncIterator[TlsReceiver]:
    """An https receiver on 127.0.0.1 with the certificate, and a client context that trusts it."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    names: list[str | None] = []

    def note_name(sock: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
        names.append(server_name)

    server_context.sni_callback = note_name

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    try:
        client = ssl.create_default_context(cafile=str(cert))
        yield TlsReceiver(server.sockets[0].getsockname()[1], client, names)
    finally:
        server.close()


async def test_tls_checks_the_certificate_against_the_host_name_not_the_address(
    settings: Settings, certificate: tuple[Path, Path]
) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with tls_receiver(*certificate) as tls:
        rules = dataclasses.replace(settings, webhook_allow_loopback=True, webhook_allowed_ports=(tls.port,))
        sender = Sender(rules, resolver=resolver, ssl_context=tls.client_context)
        try:
            ok = await sender.send(endpoint(f"https://receiver.test:{tls.port}/hook"), uuid.uuid4(), b"{}")
            # The same socket address under a name the certificate does not carry fails the TLS check.
            wrong = await sender.send(endpoint(f"https://other.test:{tls.port}/hook"), uuid.uuid4(), b"{}")
        finally:
            await sender.aclose()
    assert (ok.delivered, ok.status_code) == (True, 204)
    assert (wrong.delivered, wrong.error) == (False, "connection_failed")
    assert tls.server_names[0] == "receiver.test"  # SNI named the host, though the socket went to 127.0.0.1
