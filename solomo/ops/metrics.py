"""Prometheus metrics at ``/metrics``, for the scraper that holds ``SOLOMO_METRICS_TOKEN`` only.

Metrics name routes, statuses and volumes: not secrets, but a map of the service that anonymous callers on
the API port have no business reading. Without a token the route does not exist (404); with one, a scrape
sends ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController, PrometheusMiddleware
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from solomo.errors import ApiError

#: Requests to these paths are not counted: scrapes and probes would drown the API's own figures.
NOT_COUNTED = ["^/metrics", "^/health/"]


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(app_name="solomo", prefix="solomo", group_path=True, exclude=NOT_COUNTED)


def metrics_middleware(config: PrometheusConfig) -> DefineMiddleware:
    return DefineMiddleware(RequestMetrics, config=config)


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


class RequestMetrics(PrometheusMiddleware):
    """Litestar's request metrics (the same names and labels, exported by the same /metrics), at a fraction of the
    cost: each label set's metric children are looked up once and kept, where Litestar's middleware builds a
    ``Request``, two label dictionaries and four label look-ups on every request (measured with
    ``bench/app_path.py``)."""

    def __init__(self, app: ASGIApp, config: PrometheusConfig) -> None:
        super().__init__(app, config)
        self._in_progress: dict[tuple[str, str], Any] = {}
        self._finished: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def _labels(self, method: str, path: str, status: int) -> dict[str, str | int | float]:
        return {"method": method, "path": path, "status_code": status, "app_name": self._config.app_name}

    def _finished_children(self, method: str, path: str, status: int) -> tuple[Any, Any, Any]:
        key = (method, path, status)
        children = self._finished.get(key)
        if children is None:
            labels = self._labels(method, path, status)
            values = list(labels.values())
            errors = (
                self.requests_error_count(labels).labels(*values) if status >= HTTP_500_INTERNAL_SERVER_ERROR else None
            )
            children = (self.request_count(labels).labels(*values), self.request_time(labels).labels(*values), errors)
            self._finished[key] = children
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope.get("method") or scope["type"])
        path = str(scope.get("path_template") or scope["path"])
        progress = self._in_progress.get((method, path))
        if progress is None:
            labels = self._labels(method, path, 200)
            progress = self.requests_in_progress(labels).labels(*labels.values())
            self._in_progress[(method, path)] = progress
        status = 200
        started = time.perf_counter()

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        progress.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            progress.dec()
            count, duration, errors = self._finished_children(method, path, status)
            if errors is not None:
                errors.inc()
            count.inc()
            duration.observe(time.perf_counter() - started)
