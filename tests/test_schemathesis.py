"""A bounded schemathesis run against the served API: no 5xx, no undocumented status, no schema mismatch.

The app is served by granian in a subprocess (schemathesis speaks HTTP), over the session's test database.
Three runs of every phase share about two minutes: a brand's admin key on every route, a second brand's
member token on the member routes, and that brand's scoped manager key on the staff routes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SIGNING_KEYS, BrandContext

#: Seconds of each run (schemathesis's --max-time); the three together stay near two minutes.
BUDGETS = {"admin": 50, "member": 30, "manager": 30}
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    )
)
MEMBER_ROUTES = r"^/v1/(checkins|members/me|offers/nearby|offers/\{offer_id\}/(claims|shares))"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API on a port of its own, as `solomo run` serves it, with the test signing keys."""
    port = _free_port()
    log = tmp_path_factory.mktemp("served") / "server.log"
    env = os.environ | {
        "SOLOMO_DATABASE_URL": database_url,
        "SOLOMO_LOCAL_DIR": str(log.parent),
        "SOLOMO_MEMBER_TOKEN_KEYS": ",".join(f"{kid}:{secret}" for kid, secret in TEST_SIGNING_KEYS.items()),
        "SOLOMO_STATS_FOLD_SECONDS": "0",
        "SOLOMO_LOG_LEVEL": "ERROR",
        # The fuzzer sends thousands of requests per key: a budget it never meets keeps every route in reach.
        "SOLOMO_RATE_LIMIT_KEY_BURST": "1000000",
        "SOLOMO_RATE_LIMIT_MEMBER_BURST": "1000000",
    }
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--port", str(port)]
    with log.open("w") as sink:
        server = subprocess.Popen([*command, "solomo.app:create_app"], env=env, stdout=sink, stderr=sink)
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


def _schemathesis(base: str, secret: str, budget: int, report: Path, *filters: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "st"), "run", f"{base}/schema/openapi.json",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--checks", CHECKS,
        "--max-time", str(budget),
        "--seed", "15",
        "--workers", "1",  # CPython 3.11's ast is not thread-safe, and hypothesis parses lambdas in each worker
        "--request-timeout", "20",
        "--header", f"Authorization: Bearer {secret}",
        "--suppress-health-check", "all",
        "--report", "ndjson", "--report-dir", str(report),
        *filters,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=budget + 120, check=False)


async def test_schemathesis_finds_nothing_undocumented(
    served: str, brand: BrandContext, other_brand: BrandContext, tmp_path: Path
) -> None:
    store = await other_brand.store()
    manager = await other_brand.key("manager", [store["id"]])
    member = await other_brand.client.post(
        "/v1/members",
        json={"external_id": "fuzzed", "consent": {"location": True, "marketing": True}},
        headers=other_brand.admin,
    )
    token = await other_brand.member_token(member.json()["id"])
    runs = {
        "admin": (brand.admin_key, ()),
        "member": (token, ("--include-path-regex", MEMBER_ROUTES)),
        "manager": (manager, ("--exclude-path-regex", MEMBER_ROUTES)),
    }
    failed = []
    for name, (secret, filters) in runs.items():
        result = _schemathesis(served, secret, BUDGETS[name], tmp_path / name, *filters)
        if result.returncode != 0:
            failed.append(
                f"--- {name} (exit {result.returncode}) ---\n{result.stdout[-15_000:]}\n{result.stderr[-3_000:]}"
            )
    assert not failed, "\n".join(failed)
