"""Every answer, errors included, carries X-Request-ID and is logged with its real status; /metrics is for the
scraper holding SOLOMO_METRICS_TOKEN only."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from solomo.app import create_app
from solomo.config import Settings
from tests.conftest import BrandContext

METRICS_TOKEN = "scrape-" + "m" * 32


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def request_lines() -> Iterator[list[logging.LogRecord]]:
    """The request log lines written during the test (the test settings log warnings only)."""
    logger = logging.getLogger("solomo.request")
    handler = _Lines()
    before = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def _line_for(records: list[logging.LogRecord], request_id: str) -> Any:
    found = [r for r in records if getattr(r, "request_id", None) == request_id]
    assert len(found) == 1, [r.__dict__ for r in records]
    return found[0]


@pytest.mark.parametrize(
    ("method", "path", "body", "auth", "status"),
    [
        ("GET", "/v1/brand", None, False, 401),
        ("GET", "/v1/brand", None, "sk_not_a_real_key_at_all_000000000000", 401),
        ("GET", "/no/such/route", None, True, 404),
        ("GET", f"/v1/stores/{uuid.UUID(int=7)}", None, True, 404),
        ("POST", "/v1/stores", {"name": ""}, True, 422),
    ],
)
async def test_error_answers_carry_a_request_id_and_are_logged_with_their_status(
    brand: BrandContext,
    request_lines: list[logging.LogRecord],
    method: str,
    path: str,
    body: Any,
    auth: bool | str,
    status: int,
) -> None:
    headers = brand.admin if auth is True else brand.bearer(auth) if auth else {}
    answer = await brand.client.request(method, path, json=body, headers=headers)
    assert answer.status_code == status, answer.text
    request_id = answer.headers["x-request-id"]
    assert len(request_id) == 32
    assert _line_for(request_lines, request_id).status == status


async def test_a_request_id_sent_by_the_client_is_kept(
    brand: BrandContext, request_lines: list[logging.LogRecord]
) -> None:
    answer = await brand.client.get("/v1/brand", headers={"X-Request-ID": "till-42-abc"})
    assert answer.status_code == 401
    assert answer.headers["x-request-id"] == "till-42-abc"
    assert _line_for(request_lines, "till-42-abc").status == 401


async def test_a_503_raised_while_authenticating_is_logged_as_503(
    settings: Settings, request_lines: list[logging.LogRecord]
) -> None:
    nowhere = "postgresql+asyncpg://postgres@/solomo?host=/nonexistent-socket-dir"
    async with AsyncTestClient(app=create_app(settings, database_url=nowhere)) as down:
        answer = await down.get("/v1/brand", headers={"Authorization": "Bearer sk_" + "x" * 40})
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"]
    assert _line_for(request_lines, answer.headers["x-request-id"]).status == 503


async def test_metrics_do_not_exist_without_a_token(client: AsyncTestClient[Litestar]) -> None:
    answer = await client.get("/metrics")
    assert answer.status_code == 404
    assert "x-request-id" in answer.headers


@pytest.fixture(scope="module")
async def scraped(settings: Settings, database_url: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(dataclasses.replace(settings, metrics_token=METRICS_TOKEN), database_url=database_url)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


async def test_metrics_refuse_anonymous_callers_and_answer_the_scraper(
    scraped: AsyncTestClient[Litestar],
) -> None:
    assert (await scraped.get("/metrics")).status_code == 401
    wrong = await scraped.get("/metrics", headers={"Authorization": "Bearer " + "x" * 39})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "metrics_token_required"
    # An API key is no way in either: only the scraper's token.
    assert (await scraped.get("/metrics", headers={"Authorization": "Bearer sk_" + "x" * 40})).status_code == 401

    async def refused_brand_reads() -> float:
        answer = await scraped.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer.status_code == 200
        counted = [
            line.rsplit(" ", 1)[1]
            for line in answer.text.splitlines()
            if line.startswith("solomo_requests_total{")
            and 'path="/v1/brand"' in line
            and 'method="GET"' in line
            and 'status_code="401"' in line
        ]
        return float(counted[0]) if counted else 0.0

    before = await refused_brand_reads()
    assert (await scraped.get("/v1/brand")).status_code == 401
    # The refusal is counted as what it was, not as the 200 the route would have given.
    assert await refused_brand_reads() == before + 1
