"""Prometheus metrics at ``/metrics``, for the scraper that holds ``SOLOMO_METRICS_TOKEN`` only.

Metrics name routes, statuses and volumes: not secrets, but a map of the service that anonymous callers on
the API port have no business reading. Without a token the route does not exist (404); with one, a scrape
sends ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from solomo.errors import ApiError

#: Requests to these paths are not counted: scrapes and probes would drown the API's own figures.
NOT_COUNTED = ["^/metrics", "^/health/"]


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(app_name="solomo", prefix="solomo", group_path=True, exclude=NOT_COUNTED)


def metrics_controller(token: str | None) -> list[type[PrometheusController]]:
    """The route handlers to register: none without a token."""
    if not token:
        return []
    expected = f"Bearer {token}".encode()

    def scraper_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        sent = connection.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            raise ApiError(
                401,
                "metrics_token_required",
                "Send SOLOMO_METRICS_TOKEN as `Authorization: Bearer …` to read the metrics",
                headers={"WWW-Authenticate": 'Bearer realm="solomo-metrics"'},
            )

    class Metrics(PrometheusController):
        path = "/metrics"
        include_in_schema = False
        guards = [scraper_only]

    return [Metrics]
