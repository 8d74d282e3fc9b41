"""Browser fixtures for the console's journeys: the app served over HTTP, Debian's chromium driven by Playwright.

Every page is fenced in: a request to any host but 127.0.0.1 is aborted and fails the test (the console must work
offline), and so does any console error or uncaught exception, except the browser's own note about an API answer
of 4xx, which the journeys cause on purpose (a wrong key, a refused fence, a coupon redeemed twice). Each journey
saves screenshots under .solomo/test-output/console/ (git-ignored); with SOLOMO_CONSOLE_DOC_SCREENSHOTS=1 the
ones the README shows are also written to docs/images/.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Route, async_playwright

from solomo.console.browser import CHROMIUM_ARGS
from tests.serving import served_app

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / ".solomo" / "test-output" / "console"
DOC_IMAGES = REPO / "docs" / "images"
#: Chromium reports every 4xx answer as a console error; those are the API refusing on purpose, not page bugs.
_EXPECTED_HTTP_ERROR = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d\b")
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def console_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_app(database_url, tmp_path_factory.mktemp("console-served")) as base:
        yield base


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        # The journeys are the console's tests: without a browser they fail (never skip), saying how to get one.
        pytest.fail("chromium is not installed (`./dev test` installs it as root): apt-get install -y chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Guard:
    """What a page did that a journey must not: leave 127.0.0.1, log an error, throw."""

    offsite: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def route(self, route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            await route.continue_()
        else:
            self.offsite.append(route.request.url)
            await route.abort()

    def console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error" and not _EXPECTED_HTTP_ERROR.match(msg.text):
            self.errors.append(f"console: {msg.text} ({msg.location.get('url', '')})")

    def page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")


OpenPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_page(browser: Browser, console_url: str) -> AsyncIterator[OpenPage]:
    """open_page(locale="en-US") → a fresh browser profile's page at /console, fenced in by a Guard."""
    guard = Guard()
    contexts: list[BrowserContext] = []

    async def open_(locale: str = "en-US", path: str = "/console") -> Page:
        context = await browser.new_context(locale=locale, viewport=VIEWPORT, accept_downloads=True)  # type: ignore[arg-type]
        contexts.append(context)
        await context.route("**/*", guard.route)
        page = await context.new_page()
        page.on("console", guard.console)
        page.on("pageerror", guard.page_error)
        await page.goto(console_url + path)
        return page

    try:
        yield open_
    finally:
        for context in contexts:
            await context.close()
    assert not guard.offsite, f"requests left 127.0.0.1: {guard.offsite}"
    assert not guard.errors, "\n".join(guard.errors)


async def screenshot(page: Page, name: str, *, doc: str | None = None) -> bytes:
    """Saves the page under the test output (and, when asked, as a README image); the PNG's bytes."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    png = await page.screenshot(path=str(OUTPUT / f"{name}.png"))
    if doc and os.environ.get("SOLOMO_CONSOLE_DOC_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        (DOC_IMAGES / doc).write_bytes(png)
    return png


def png_pixel(png: bytes, x: int, y: int) -> tuple[int, int, int]:
    """The RGB colour at (x, y) of a screenshot (8-bit RGB or RGBA, not interlaced: what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        chunk = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8, depth
            assert colour in (2, 6), colour
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            data += chunk
        pos += 12 + length
    raw = zlib.decompress(data)
    stride = width * channels
    previous = bytearray(stride)
    for row in range(y + 1):
        start = row * (stride + 1)
        kind_byte, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind_byte == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind_byte == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind_byte == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind_byte == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + predictor) & 0xFF
        previous = line
    assert height > y
    r, g, b = previous[x * channels : x * channels + 3]
    return r, g, b
