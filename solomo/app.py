"""create_app(): the Litestar application with its plugins, routers and error handling."""

from __future__ import annotations

import contextlib
from contextlib import AbstractAsyncContextManager
from typing import Any

from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from solomo import __version__
from solomo.auth.controllers import ApiKeyController
from solomo.auth.member_tokens import MemberTokenCodec
from solomo.auth.middleware import AuthMiddleware
from solomo.brands.controllers import BrandController
from solomo.checkins.controllers import CheckinController
from solomo.cli import SolomoCLIPlugin
from solomo.config import MIGRATIONS_DIR, Settings, get_settings
from solomo.console.assets import ConsoleAssets
from solomo.console.controllers import (
    ConsoleAssetController,
    ConsoleConfig,
    ConsolePageController,
    ConsoleSessionController,
)
from solomo.coupons.controllers import ClaimController, RedeemController, TillController
from solomo.coupons.throttle import CodeGuard
from solomo.db.engine import DbLimits, make_engine, resolve_database_url
from solomo.db.pool import StatementPool
from solomo.db.transactions import RetryConflicts, close_session_handler, session_dependency
from solomo.docs_ui import docs_asset, docs_page
from solomo.errors import EXCEPTION_HANDLERS
from solomo.geofences.controllers import GeofenceController, StoreGeofenceController
from solomo.hot.callers import HOT_STATE, HotRoutes, KeyDirectory
from solomo.input_checks import check_input
from solomo.members.controllers import MemberController
from solomo.offers.controllers import CampaignController, OfferController
from solomo.openapi_contract import document_errors
from solomo.ops.budgets import Budget
from solomo.ops.health import HEALTH_TIMEOUT_STATE, live, migration_heads, ready
from solomo.ops.logs import RequestLogMiddleware, configure_logging
from solomo.ops.metrics import metrics_controller, metrics_middleware, prometheus_config
from solomo.stats.controllers import StatsController
from solomo.stats.heatmap import HeatmapController
from solomo.stats.rollups import background_folds
from solomo.stores.controllers import StoreController
from solomo.webhooks.controllers import SETTINGS_DEPENDENCY, WebhookEndpointController
from solomo.webhooks.openapi import document_webhooks

UNAUTHENTICATED = ["^/health/", "^/metrics", "^/schema", "^/console"]


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="SoLoMo API",
        version=__version__,
        description=(
            "Location-aware marketing: stores and geofences, check-ins, offers and O2O coupons. "
            "Send a brand API key (`sk_…`) or a member token as `Authorization: Bearer …`. "
            "Errors are RFC 9457 problem details with a machine-readable `code`."
        ),
        path="/schema",
        render_plugins=[docs_page()],  # Swagger UI from the app's own pinned assets (solomo/docs_ui.py)
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="A brand API key (sk_…), or a member token (JWT) from POST /v1/members/{id}/tokens.",
                ),
                "console_session": SecurityScheme(
                    type="apiKey",
                    name="solomo_console",
                    security_scheme_in="cookie",
                    description=(
                        "The web console's session (POST /console/session), acting as the API key it was signed in "
                        "with. A request that changes something also sends the session's CSRF token as X-CSRF-Token."
                    ),
                ),
            }
        ),
        security=[{"bearer": []}, {"console_session": []}],
        use_handler_docstrings=False,
    )


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> Litestar:
    """Build the app. The database is only reached when a request (or the CLI) needs it."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    url = database_url or resolve_database_url(settings, start_local=False)
    limits = DbLimits.from_settings(settings)
    engine = make_engine(url, pool_size=settings.pool_size, limits=limits)
    db_config = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        # `db_session` is ours (solomo.db.transactions): it commits before the answer is sent.
        session_dependency_key="unmanaged_db_session",
        create_all=False,
        alembic_config=AlembicAsyncConfig(
            script_location=str(MIGRATIONS_DIR),
            version_table_name="alembic_version",
            render_as_batch=False,
        ),
    )
    db_config.before_send_handler = close_session_handler(db_config.session_scope_key)
    codec = MemberTokenCodec(
        settings.member_token_keys,
        settings.member_token_active_kid,
        issuer=settings.member_token_issuer,
        audience=settings.member_token_audience,
        ttl_seconds=settings.member_token_ttl_seconds,
    )
    prometheus = prometheus_config()
    key_budget = Budget("key", settings.rate_limit_key_burst, settings.rate_limit_key_per_second)
    member_budget = Budget("member", settings.rate_limit_member_burst, settings.rate_limit_member_per_second)
    statements = StatementPool(url, size=settings.statement_pool_size, limits=limits)
    console_idle_seconds = settings.console_idle_minutes * 60
    hot = HotRoutes(statements, codec, member_budget, key_budget, KeyDirectory(statements), console_idle_seconds)
    console = ConsoleConfig(
        assets=ConsoleAssets(),
        session_hours=settings.console_session_hours,
        idle_minutes=settings.console_idle_minutes,
        secure_cookie=settings.console_secure_cookie,
        map_style_url=settings.console_map_style_url,
        map_attribution=settings.console_map_attribution,
    )

    def on_startup(app: Litestar) -> None:
        app.state.migration_heads = migration_heads()
        app.state[HEALTH_TIMEOUT_STATE] = settings.health_timeout_ms
        app.state[HOT_STATE] = hot

    async def on_shutdown(_: Litestar) -> None:
        await statements.close()

    def stats_folds(_: Litestar) -> AbstractAsyncContextManager[None]:
        if settings.stats_fold_seconds <= 0:
            return contextlib.nullcontext()
        # Folds are background reports: their own connection, with the report statement timeout.
        fold_engine = make_engine(
            url, pool_size=1, limits=limits.with_statement_timeout(settings.db_report_statement_timeout_ms)
        )
        return background_folds(fold_engine, settings.stats_fold_seconds)

    route_handlers: list[Any] = [
        live,
        ready,
        *metrics_controller(settings.metrics_token),
        BrandController,
        ApiKeyController,
        MemberController,
        StoreController,
        StoreGeofenceController,
        GeofenceController,
        CheckinController,
        CampaignController,
        OfferController,
        ClaimController,
        TillController,
        RedeemController,
        StatsController,
        HeatmapController,
        WebhookEndpointController,
        docs_asset,
        ConsoleSessionController,
        ConsolePageController,
        ConsoleAssetController,
    ]
    code_guard = CodeGuard()
    app = Litestar(
        route_handlers=route_handlers,
        plugins=[SQLAlchemyPlugin(config=db_config), SolomoCLIPlugin()],
        dependencies={
            "db_session": session_dependency(db_config, settings.db_report_statement_timeout_ms),
            "member_token_codec": Provide(lambda: codec, use_cache=True, sync_to_thread=False),
            "code_guard": Provide(lambda: code_guard, use_cache=True, sync_to_thread=False),
            "hot": Provide(lambda: hot, use_cache=True, sync_to_thread=False),
            "console_config": Provide(lambda: console, use_cache=True, sync_to_thread=False),
            SETTINGS_DEPENDENCY: Provide(lambda: settings, use_cache=True, sync_to_thread=False),
        },
        middleware=[
            metrics_middleware(prometheus),
            DefineMiddleware(
                AuthMiddleware,
                db_config=db_config,
                codec=codec,
                key_budget=key_budget,
                member_budget=member_budget,
                console_idle_seconds=console_idle_seconds,
                exclude=UNAUTHENTICATED,
            ),
            RetryConflicts,
        ],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        openapi_config=_openapi(),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        lifespan=[stats_folds],
        before_request=check_input,
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,
        debug=False,
    )
    document_errors(app)  # every status each route can answer, from solomo/openapi_contract.py
    document_webhooks(app.openapi_schema)  # what the endpoints receive: the `webhooks` section, per event type
    # Outside Litestar's outer exception handler, so every answer is logged with its real status and carries
    # X-Request-ID: route middleware never sees an unknown path, nor the error raised by a middleware.
    app.asgi_handler = RequestLogMiddleware(app.asgi_handler)
    return app
