"""The app served over real HTTP by granian in a subprocess, as `solomo run` serves it, over a test database.

For tests whose client is not in this process: schemathesis (tests/test_schemathesis.py) and a browser
(tests/console/).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SIGNING_KEYS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served_app(database_url: str, local_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """The API on a port of its own with the test signing keys; yields its base URL. ``env`` adds settings.

    The server's output goes to ``local_dir/server.log`` and is printed when it stops, so a failing test shows it.
    """
    port = free_port()
    log = local_dir / "server.log"
    server_env = os.environ | {
        "SOLOMO_DATABASE_URL": database_url,
        "SOLOMO_LOCAL_DIR": str(local_dir),
        "SOLOMO_MEMBER_TOKEN_KEYS": ",".join(f"{kid}:{secret}" for kid, secret in TEST_SIGNING_KEYS.items()),
        "SOLOMO_STATS_FOLD_SECONDS": "0",
        "SOLOMO_LOG_LEVEL": "ERROR",
        **(env or {}),
    }
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--port", str(port)]
    with log.open("w") as sink:
        server = subprocess.Popen([*command, "solomo.app:create_app"], env=server_env, stdout=sink, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the server did not start:\n{log.read_text()}")
        assert server.poll() is None, log.read_text()
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        served_log = log.read_text()
        if served_log.strip():
            print(served_log[-20_000:])
