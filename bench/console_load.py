"""How fast the console's first page is ready in a browser with a cold cache (issue 17: within 1.5 s on localhost).

The demo brand (``solomo demo``: 200 stores) on a fresh cluster, ``solomo run`` serving it, and Debian's chromium
driven by Playwright, a new browser profile for every load (nothing cached). Two first pages are timed from the
navigation's start:

* sign-in: the page until its API-key field can be typed into;
* stores: a signed-in manager's (or admin's) first page, until the store list is filled and the map has drawn
  its first frame with the stores (MapLibre's first ``idle`` after ``load``: style, basemap outlines, stores).

Also printed: what the browser fetched (requests, bytes over the wire, bytes unpacked) for each. Prints figures,
asserts nothing. Run: ``uv run python -m bench.console_load [--runs 7] [--key sk_demo_admin_key]`` (about a
minute after the demo loads).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Page, async_playwright

from bench.harness import api_server, bench_database, run_main, signing_codec
from solomo.console.browser import CHROMIUM_ARGS

DATABASE = "solomo_bench_console"
TARGET_S = 1.5
#: What the browser fetched for the page: navigation and resources, as the Resource Timing API reports them.
_FETCHED = """() => {
  const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
  return {
    requests: entries.length,
    wire: entries.reduce((n, e) => n + (e.transferSize || 0), 0),
    unpacked: entries.reduce((n, e) => n + (e.decodedBodySize || 0), 0),
  };
}"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.console_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="cold loads of each page")
    parser.add_argument("--key", default="sk_demo_manager_key", help="the demo key the stores page signs in with")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    args.pool_size = None
    args.statement_pool_size = None
    return args


def _sign_in(base: str, key: str) -> str:
    """The session cookie's value, as the console's sign-in sets it."""
    request = urllib.request.Request(  # noqa: S310 - our own http URL
        f"{base}/console/session",
        data=json.dumps({"api_key": key}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        cookie = str(answer.headers["Set-Cookie"]).split(";", 1)[0]
    return cookie.split("=", 1)[1]


Milestones = list[tuple[str, float]]


async def _timed(page: Page, url: str, ready: Any) -> tuple[Milestones, dict[str, int]]:
    """Seconds from the navigation's start to each of ``ready``'s milestones, and what was fetched."""
    started = time.perf_counter()
    await page.goto(url, wait_until="commit")
    milestones = [(name, time.perf_counter() - started) async for name in ready(page)]
    return milestones, await page.evaluate(_FETCHED)


async def _sign_in_ready(page: Page) -> AsyncIterator[str]:
    field = page.locator("input[type=password]")
    await field.wait_for(state="visible")
    await field.focus()
    yield "key field usable"


async def _stores_ready(page: Page) -> AsyncIterator[str]:
    await page.locator(".store-list li").first.wait_for(state="visible")
    yield "store list usable"
    # solomo/console/static/app/map.js marks the map once it has drawn its style and the stores (MapLibre's
    # first "idle" after "load").
    await page.locator(".maplibregl-map[data-drawn=true]").wait_for(state="attached")
    yield "map drawn"


async def measure(base: str, cookie: str, runs: int) -> dict[str, list[tuple[Milestones, dict[str, int]]]]:
    results: dict[str, list[tuple[Milestones, dict[str, int]]]] = {"sign-in": [], "stores": []}
    host = urlsplit(base).hostname or "127.0.0.1"
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("needs Debian's chromium: apt-get install -y chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            for _ in range(runs):
                for name, path, ready, signed_in in (
                    ("sign-in", "/console", _sign_in_ready, False),
                    ("stores", "/console#/stores", _stores_ready, True),
                ):
                    context = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
                    if signed_in:
                        await context.add_cookies(
                            [{"name": "solomo_console", "value": cookie, "domain": host, "path": "/"}]
                        )
                    page = await context.new_page()
                    results[name].append(await _timed(page, base + path, ready))
                    await context.close()
        finally:
            await browser.close()
    return results


def run(args: argparse.Namespace) -> None:
    _, signing_keys = signing_codec()
    with bench_database(False, DATABASE) as bench:
        solomo = Path(sys.executable).with_name("solomo")
        print("loading the demo brand …", flush=True)
        subprocess.run(  # noqa: S603 - our own console script
            [str(solomo), "demo"], env={**os.environ, "SOLOMO_DATABASE_URL": bench.url}, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        with api_server(bench.url, signing_keys, args, bench.workdir / "server.log") as server:
            cookie = _sign_in(server.base_url, args.key)
            results = asyncio.run(measure(server.base_url, cookie, args.runs))
    print(f"\nfirst page ready, cold cache, {args.runs} loads each (target {TARGET_S} s); {args.key} for stores")
    print(
        f"{'page':>8} {'ready when':>18} {'p50 s':>6} {'max s':>6} {'requests':>8} {'KB wire':>8} {'KB unpacked':>11}"
    )
    for name, loads in results.items():
        fetched = loads[-1][1]
        for k, (milestone, _) in enumerate(loads[0][0]):
            seconds = [marks[k][1] for marks, _ in loads]
            print(
                f"{name:>8} {milestone:>18} {statistics.median(seconds):>6.2f} {max(seconds):>6.2f}"
                f" {fetched['requests']:>8} {fetched['wire'] / 1024:>8.0f} {fetched['unpacked'] / 1024:>11.0f}"
            )


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, parse_args(argv))


if __name__ == "__main__":
    main()
