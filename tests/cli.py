"""Run the installed `solomo` command against a test database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

SOLOMO = str(Path(sys.executable).parent / "solomo")


def run_solomo(database_url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SOLOMO_DATABASE_URL": database_url,
        "SOLOMO_MEMBER_TOKEN_KEYS": "cli:" + "c" * 40,
        **(env or {}),
    }
    return subprocess.run([SOLOMO, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


async def run_solomo_async(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The same, off the event loop, for async tests."""
    return await asyncio.to_thread(run_solomo, database_url, *args)
