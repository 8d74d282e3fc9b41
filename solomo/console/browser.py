"""How the console's checks launch Debian's chromium (the browser tests in tests/console/, bench/console_load.py).

Playwright cannot download its own browser here, so it drives the system's chromium with these flags: WebGL
without a GPU (swiftshader, for MapLibre), no sandbox (root in CI), and nothing that phones home on its own.
"""

from __future__ import annotations

from typing import Final

CHROMIUM_ARGS: Final = (
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
