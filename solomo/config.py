"""Settings read from the environment (``SOLOMO_*``), resolved once per process."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

#: The checkout this package lives in; the local cluster and dev secrets live under ``.solomo/`` in it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def normalize_database_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as well as ``postgresql+asyncpg://``."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    msg = f"SOLOMO_DATABASE_URL must be a postgresql:// URL, got {url.split('://', 1)[0]}://…"
    raise ValueError(msg)


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        msg = f"{name} must be an integer, got {raw!r}"
        raise ValueError(msg) from exc


def _choice_env(name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first is the default)."""
    raw = (os.environ.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        msg = f"{name} must be one of {', '.join(choices)}, got {raw!r}"
        raise ValueError(msg)
    return raw


def _bool_env(name: str) -> bool:
    raw = (os.environ.get(name) or "false").strip().lower()
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        msg = f"{name} must be true or false, got {raw!r}"
        raise ValueError(msg)
    return raw in ("true", "1", "yes")


def _ports_env(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        ports = tuple(int(item) for item in raw.split(","))
    except ValueError as exc:
        msg = f"{name} must be comma-separated port numbers, got {raw!r}"
        raise ValueError(msg) from exc
    if any(not 0 < port < 65536 for port in ports):
        msg = f"{name} must be comma-separated port numbers, got {raw!r}"
        raise ValueError(msg)
    return ports


def _signing_keys(local_dir: Path) -> tuple[dict[str, str], str]:
    """Member-token signing keys: ``SOLOMO_MEMBER_TOKEN_KEYS`` is ``kid:secret[,kid:secret…]``, first one signs.

    Older keys stay listed so tokens signed before a rotation verify until they expire. Without the
    variable a development key is generated once under ``.solomo/`` so restarts keep tokens valid.
    """
    raw = os.environ.get("SOLOMO_MEMBER_TOKEN_KEYS", "").strip()
    if not raw:
        path = local_dir / "member-token-keys.json"
        if path.exists():
            stored = json.loads(path.read_text())
            return dict(stored["keys"]), str(stored["active"])
        kid = "dev-" + secrets.token_hex(4)
        generated = {kid: secrets.token_urlsafe(48)}
        local_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"keys": generated, "active": kid}))
        path.chmod(0o600)
        return generated, kid
    keys: dict[str, str] = {}
    active = ""
    for item in raw.split(","):
        kid, sep, secret = item.strip().partition(":")
        if not sep or not kid or len(secret) < 32:
            msg = "SOLOMO_MEMBER_TOKEN_KEYS must be kid:secret pairs with secrets of at least 32 characters"
            raise ValueError(msg)
        keys[kid] = secret
        active = active or kid
    return keys, active


@dataclass(frozen=True)
class Settings:
    #: asyncpg URL, or None to use the private cluster under ``local_dir``.
    database_url: str | None
    local_dir: Path
    member_token_keys: dict[str, str] = field(repr=False)
    member_token_active_kid: str = ""
    member_token_ttl_seconds: int = 600
    member_token_issuer: str = "solomo"
    member_token_audience: str = "solomo-app"
    #: Bearer token a Prometheus scraper sends to read /metrics; without one, /metrics does not exist (404).
    metrics_token: str | None = field(default=None, repr=False)
    #: Request budgets (leaky buckets, see solomo/ops/budgets.py): requests at once, then requests a second,
    #: per API key and per member token. Beyond them a caller is answered 429 with Retry-After.
    rate_limit_key_burst: int = 1_000
    rate_limit_key_per_second: int = 100
    rate_limit_member_burst: int = 200
    rate_limit_member_per_second: int = 5
    #: Requests whose body is larger are answered 413 before they are read in full.
    max_body_bytes: int = 1_048_576
    #: Connections kept per worker. Overflow connections are closed when returned, and a new connection pays
    #: for loading PostGIS on its first spatial query, so the pool should cover the usual concurrency.
    pool_size: int = 20
    #: Connections per worker for the hot routes' single statements (solomo/db/pool.py). A hot request holds one
    #: only while its statement runs, so a few per core of the database keep it busy; more only queue in it.
    statement_pool_size: int = 8
    log_level: str = "INFO"
    #: Seconds between background folds of the stats journal into the rollups (0: only when stats are read).
    stats_fold_seconds: int = 5
    #: Bounds on the app's database work, so a held lock or a stalled server answers 503 instead of queueing
    #: every request: a statement's run time (reports get the longer one), a wait for a row lock, an open
    #: transaction left idle, a wait for a pooled connection, and a new connection's handshake.
    db_statement_timeout_ms: int = 5_000
    db_report_statement_timeout_ms: int = 60_000
    db_lock_timeout_ms: int = 2_000
    db_idle_in_transaction_timeout_ms: int = 15_000
    db_pool_timeout_ms: int = 1_500
    db_connect_timeout_ms: int = 3_000
    #: /health/ready answers within about this long, whatever the database does.
    health_timeout_ms: int = 1_000
    #: A console sign-in lasts at most this long, and ends sooner when unused for the idle time.
    console_session_hours: int = 12
    console_idle_minutes: int = 120
    #: The console cookie's Secure attribute: "auto" sets it when the sign-in came over https (as seen by the
    #: app: behind a TLS-terminating proxy, say "always"), "always", or "never".
    console_secure_cookie: str = "auto"
    #: A MapLibre style URL for the console's maps (a deployment's own tiles), and the attribution it requires.
    #: Unset: the offline basemap (country outlines shipped with the app) under the brand's stores and fences.
    console_map_style_url: str | None = None
    console_map_attribution: str = ""
    #: Webhook endpoints must be https on one of these ports; http only when allowed (for development).
    webhook_allowed_ports: tuple[int, ...] = (443, 8443)
    webhook_allow_http: bool = False
    #: Test-only: let webhooks go to loopback addresses (127.0.0.0/8, ::1), for a receiver the tests run.
    #: Every other refused range (private, link-local, CGNAT, metadata, …) stays refused.
    webhook_allow_loopback: bool = False
    #: A worker holds a message it took this long before another worker may take it (a killed worker's message).
    webhook_lease_seconds: int = 60
    #: Messages a worker sends at once.
    webhook_concurrency: int = 16

    @property
    def uses_local_cluster(self) -> bool:
        return self.database_url is None

    @classmethod
    def from_env(cls) -> Settings:
        url = os.environ.get("SOLOMO_DATABASE_URL") or None
        local_dir = Path(os.environ.get("SOLOMO_LOCAL_DIR") or PROJECT_ROOT / ".solomo")
        keys, active = _signing_keys(local_dir)
        return cls(
            database_url=normalize_database_url(url) if url else None,
            local_dir=local_dir,
            member_token_keys=keys,
            member_token_active_kid=active,
            member_token_ttl_seconds=_int_env("SOLOMO_MEMBER_TOKEN_TTL_SECONDS", 600),
            metrics_token=os.environ.get("SOLOMO_METRICS_TOKEN") or None,
            rate_limit_key_burst=_int_env("SOLOMO_RATE_LIMIT_KEY_BURST", 1_000),
            rate_limit_key_per_second=_int_env("SOLOMO_RATE_LIMIT_KEY_PER_SECOND", 100),
            rate_limit_member_burst=_int_env("SOLOMO_RATE_LIMIT_MEMBER_BURST", 200),
            rate_limit_member_per_second=_int_env("SOLOMO_RATE_LIMIT_MEMBER_PER_SECOND", 5),
            max_body_bytes=_int_env("SOLOMO_MAX_BODY_BYTES", 1_048_576),
            pool_size=_int_env("SOLOMO_DB_POOL_SIZE", 20),
            statement_pool_size=_int_env("SOLOMO_DB_STATEMENT_POOL_SIZE", 8),
            log_level=os.environ.get("SOLOMO_LOG_LEVEL", "INFO").upper(),
            stats_fold_seconds=_int_env("SOLOMO_STATS_FOLD_SECONDS", 5),
            db_statement_timeout_ms=_int_env("SOLOMO_DB_STATEMENT_TIMEOUT_MS", 5_000),
            db_report_statement_timeout_ms=_int_env("SOLOMO_DB_REPORT_STATEMENT_TIMEOUT_MS", 60_000),
            db_lock_timeout_ms=_int_env("SOLOMO_DB_LOCK_TIMEOUT_MS", 2_000),
            db_idle_in_transaction_timeout_ms=_int_env("SOLOMO_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 15_000),
            db_pool_timeout_ms=_int_env("SOLOMO_DB_POOL_TIMEOUT_MS", 1_500),
            db_connect_timeout_ms=_int_env("SOLOMO_DB_CONNECT_TIMEOUT_MS", 3_000),
            health_timeout_ms=_int_env("SOLOMO_HEALTH_TIMEOUT_MS", 1_000),
            console_session_hours=_int_env("SOLOMO_CONSOLE_SESSION_HOURS", 12),
            console_idle_minutes=_int_env("SOLOMO_CONSOLE_IDLE_MINUTES", 120),
            console_secure_cookie=_choice_env("SOLOMO_CONSOLE_SECURE_COOKIE", ("auto", "always", "never")),
            console_map_style_url=os.environ.get("SOLOMO_CONSOLE_MAP_STYLE_URL") or None,
            console_map_attribution=os.environ.get("SOLOMO_CONSOLE_MAP_ATTRIBUTION", ""),
            webhook_allowed_ports=_ports_env("SOLOMO_WEBHOOK_ALLOWED_PORTS", (443, 8443)),
            webhook_allow_http=_bool_env("SOLOMO_WEBHOOK_ALLOW_HTTP"),
            webhook_allow_loopback=_bool_env("SOLOMO_WEBHOOK_ALLOW_LOOPBACK"),
            webhook_lease_seconds=_int_env("SOLOMO_WEBHOOK_LEASE_SECONDS", 60),
            webhook_concurrency=_int_env("SOLOMO_WEBHOOK_CONCURRENCY", 16),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
