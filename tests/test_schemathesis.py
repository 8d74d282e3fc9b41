"""A bounded schemathesis run against the served API: no 5xx, no undocumented status, no schema mismatch.

The app is served by granian in a subprocess (schemathesis speaks HTTP), over the session's test database.
Three runs of every phase share about two minutes: a brand's admin key on every route, a second brand's
member token on the member routes, and that brand's scoped manager key on the staff routes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BrandContext
from tests.serving import served_app

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


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API on a port of its own, as `solomo run` serves it, with the test signing keys."""
    # The fuzzer sends thousands of requests per key: a budget it never meets keeps every route in reach.
    budgets = {"SOLOMO_RATE_LIMIT_KEY_BURST": "1000000", "SOLOMO_RATE_LIMIT_MEMBER_BURST": "1000000"}
    with served_app(database_url, tmp_path_factory.mktemp("served"), budgets) as base:
        yield base


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
