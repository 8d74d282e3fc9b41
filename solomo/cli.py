"""The `solomo` command: our own root group (with Litestar's app injection), our commands and Advanced Alchemy's
`database` group. The same commands reach `litestar --app solomo.app:create_app` through the CLI plugin.

`solomo run` serves with granian (about twice uvicorn's throughput here). Without SOLOMO_DATABASE_URL
every command that needs a database first creates/starts the private cluster under `.solomo/`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from litestar.cli._utils import LitestarGroup  # the documented way to extend the CLI with a group
from litestar.plugins import CLIPluginProtocol

from solomo import __version__

if TYPE_CHECKING:
    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

T = TypeVar("T")
APP_FACTORY = "solomo.app:create_app"
#: Commands that never touch the database, so they must not start a cluster.
_NO_DATABASE = {"openapi", "stop", "--help", "-h", "--version"}


def _db_config(app: Litestar) -> Any:
    from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin

    return app.plugins.get(SQLAlchemyPlugin).config[0]


def _with_engine(app: Litestar, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` on an engine of the command's own, on the app's database.

    Not the app's engine: its statement and lock timeouts bound API requests, while command-line work (loading
    the demo, rebuilding a brand's stats, purging) may rightly run for minutes.
    """
    from solomo.db.engine import make_engine

    async def runner() -> T:
        engine = make_engine(_database_url(app), pool_size=2)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(runner())


def _in_session(app: Litestar, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    async def in_session(engine: AsyncEngine) -> T:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            result = await work(session)
            await session.commit()
            return result

    return _with_engine(app, in_session)


def _database_url(app: Litestar) -> str:
    url: str = _db_config(app).get_engine().url.render_as_string(hide_password=False)
    return url


def _uses_local_cluster() -> bool:
    from solomo.config import get_settings

    return get_settings().uses_local_cluster


def _load_demo(app: Litestar) -> Any:
    from solomo.checkins.retention import ensure_partitions
    from solomo.demo import load_demo
    from solomo.stats.rollups import rebuild_brand

    # The demo's month of check-ins reaches into last month: its partition first, then this one and ahead.
    last_month = datetime.now(UTC).date().replace(day=1) - timedelta(days=1)
    _with_engine(app, lambda engine: ensure_partitions(engine, months_ahead=4, today=last_month))
    info = _in_session(app, load_demo)
    # The demo writes its month of history as raw rows; its stats are folded from them.
    _with_engine(app, lambda engine: rebuild_brand(engine, info.brand_id))
    return info


def _print_demo(info: Any, host: str, port: int) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    base = f"http://{shown}:{port}"
    click.echo("")
    click.echo(f"SoLoMo demo brand {info.brand_id}")
    click.echo(f"  API docs:      {base}/schema   (OpenAPI JSON at {base}/schema/openapi.json)")
    for role, secret in info.keys.items():
        click.echo(f"  {role:<9} key: {secret}")
    click.echo(
        f"  demo stores:   {len(info.store_ids)} (the manager key runs {', '.join(str(s) for s in info.store_ids[:3])})"
    )
    click.echo(f"  demo members:  {', '.join(str(m) for m in info.member_ids)}")
    click.echo(f"  try:           curl -s -H 'Authorization: Bearer {info.keys['admin']}' {base}/v1/brand")
    click.echo("")


class SolomoCLIPlugin(CLIPluginProtocol):
    def on_cli_init(self, cli: click.Group) -> None:
        cli.add_command(run_command, name="run")
        cli.add_command(worker_command)
        cli.add_command(demo_command)
        cli.add_command(brands_group)
        cli.add_command(keys_group)
        cli.add_command(openapi_command)
        cli.add_command(geofences_group)
        cli.add_command(maintenance_group)


@click.command("run", help="Serve the API with granian (migrates the local cluster first).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Load the demo brand and print its keys before serving.")
@click.option(
    "--migrate/--no-migrate", default=None, help="Upgrade the schema first (default: only on the local cluster)."
)
@click.option(
    "--worker/--no-worker",
    "webhook_worker",
    default=True,
    show_default=True,
    help="Also run the webhook delivery worker (`solomo worker`) beside the server, stopped with it.",
)
def run_command(
    app: Litestar, host: str, port: int, workers: int, demo: bool, migrate: bool | None, webhook_worker: bool
) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    from solomo.config import get_settings
    from solomo.db.migrate import upgrade
    from solomo.local_run import check_port_free, registered_server, worker_process

    check_port_free(host, port)  # before the slow steps, and granian would share the port silently
    if migrate if migrate is not None else _uses_local_cluster():
        upgrade(_database_url(app))
    if demo:
        _print_demo(_load_demo(app), host, port)
    check_port_free(host, port)  # taken while the demo loaded?
    stops = "Ctrl-C stops it" + (" and the local PostGIS it started" if _uses_local_cluster() else "")
    delivering = " and the webhook worker" if webhook_worker else ""
    click.echo(f"Serving on http://{host}:{port} (docs at /schema) with {workers} worker(s){delivering}; {stops}.")
    with registered_server(get_settings().local_dir, host, port), worker_process(enabled=webhook_worker):
        Granian(
            APP_FACTORY,
            factory=True,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            loop=Loops.uvloop,  # its event loop costs less per request than asyncio's (bench/app_path.py)
            workers=workers,
            log_access=False,
        ).serve()


@click.command(
    "worker", help="Deliver webhooks: sign and send due messages, retrying on schedule, until Ctrl-C (or SIGTERM)."
)
@click.option("--concurrency", type=click.IntRange(1, 1000), default=None, help="Messages sent at once.")
@click.option("--parent-pid", type=int, default=None, hidden=True)  # set by `solomo run`: stop when it is gone
def worker_command(app: Litestar, concurrency: int | None, parent_pid: int | None) -> None:
    import dataclasses
    import signal

    from solomo.config import get_settings
    from solomo.ops.logs import configure_logging
    from solomo.webhooks.worker import run_worker

    settings = get_settings()
    if concurrency is not None:
        settings = dataclasses.replace(settings, webhook_concurrency=concurrency)
    configure_logging(settings.log_level)
    url = _database_url(app)

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(url, settings, stop, parent_pid=parent_pid)

    asyncio.run(until_signalled())


@click.command("stop", help="Stop this checkout's servers (`solomo run`, `./dev demo`) and its local PostGIS cluster.")
def stop_command() -> None:
    from solomo.config import get_settings
    from solomo.db.cluster import ClusterError, stop_dev_cluster
    from solomo.local_run import stop_servers

    local_dir = get_settings().local_dir
    for stopped in stop_servers(local_dir):
        click.echo(f"stopped {stopped}")
    try:
        if local_dir.is_dir() and stop_dev_cluster(local_dir):
            click.echo("stopped the local PostGIS cluster")
    except ClusterError as exc:  # no PostgreSQL installed: no cluster can be running
        click.echo(f"no local cluster to stop ({exc})")
    click.echo("nothing of this checkout is running now")


@click.command("demo", help="Load the demo brand (idempotent) and print its keys.")
def demo_command(app: Litestar) -> None:
    from solomo.db.migrate import upgrade

    if _uses_local_cluster():
        upgrade(_database_url(app))
    _print_demo(_load_demo(app), "127.0.0.1", 8000)


@click.group("brands", cls=LitestarGroup, help="Create brands (tenants).")
def brands_group() -> None:
    pass


@brands_group.command("create", help="Create a brand and print its id and first admin key (shown once).")
@click.argument("name")
@click.option(
    "--timezone",
    required=True,
    help="IANA time zone of the brand, e.g. Asia/Shanghai: its stats days and per-day limits follow it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def brands_create(app: Litestar, name: str, timezone: str, as_json: bool) -> None:
    from solomo.brands.service import BrandService
    from solomo.errors import ApiError

    async def work(session: AsyncSession) -> Any:
        return await BrandService(session).create(name, timezone=timezone)

    try:
        brand, key = _in_session(app, work)
    except ApiError as exc:
        raise click.UsageError(str(exc.detail)) from exc
    if as_json:
        click.echo(
            json.dumps(
                {"brand_id": str(brand.id), "name": brand.name, "timezone": brand.timezone, "admin_key": key.secret}
            )
        )
    else:
        click.echo(f"brand id:  {brand.id}")
        click.echo(f"time zone: {brand.timezone}")
        click.echo(f"admin key: {key.secret}")
        click.echo("The key is shown once; only its hash is stored.")


@click.group(
    "keys", cls=LitestarGroup, help="API keys from the command line (for a brand locked out of its admin keys)."
)
def keys_group() -> None:
    pass


@keys_group.command("create", help="Create an API key for a brand and print it (shown once).")
@click.option("--brand", "brand_id", required=True, help="Brand id.")
@click.option("--role", type=click.Choice(["admin", "manager", "marketer"]), default="admin", show_default=True)
@click.option("--name", default="command-line key", show_default=True)
@click.option("--store", "store_ids", multiple=True, help="Store id (managers; repeat for several).")
def keys_create(app: Litestar, brand_id: str, role: str, name: str, store_ids: tuple[str, ...]) -> None:
    import uuid

    from solomo.auth.schemas import ApiKeyCreate
    from solomo.auth.service import ApiKeyService
    from solomo.brands.service import BrandService
    from solomo.errors import ApiError

    try:
        brand_uuid = uuid.UUID(brand_id)
        stores = [uuid.UUID(s) for s in store_ids]
    except ValueError as exc:
        raise click.BadParameter(f"not a UUID: {exc}") from exc

    async def work(session: AsyncSession) -> Any:
        await BrandService(session).get(brand_uuid)
        data = ApiKeyCreate(name=name, role=role, store_ids=stores)  # type: ignore[arg-type]
        return await ApiKeyService(session, brand_uuid).create(data)

    try:
        key = _in_session(app, work)
    except ApiError as exc:
        raise click.UsageError(str(exc.detail)) from exc
    click.echo(key.secret)


@click.group("geofences", cls=LitestarGroup, help="Geofences from the command line.")
def geofences_group() -> None:
    pass


@geofences_group.command("import", help="Import a GeoJSON FeatureCollection of fences for a brand, all or nothing.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--brand", "brand_id", required=True, help="Brand id.")
def geofences_import(app: Litestar, path: Path, brand_id: str) -> None:
    import uuid

    import msgspec
    from rich.progress import Progress

    from solomo.auth.principal import Principal, Role
    from solomo.errors import ApiError
    from solomo.geo.geojson import FeatureCollection
    from solomo.geofences.service import GeofenceService

    try:
        brand_uuid = uuid.UUID(brand_id)
    except ValueError as exc:
        raise click.BadParameter(f"not a UUID: {brand_id}", param_hint="--brand") from exc
    try:
        collection = msgspec.json.decode(path.read_bytes(), type=FeatureCollection)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise click.UsageError(f"{path} is not a GeoJSON FeatureCollection: {exc}") from exc

    with Progress(transient=True) as progress:
        task = progress.add_task(f"checking {len(collection.features)} features", total=len(collection.features))

        async def work(session: AsyncSession) -> Any:
            from solomo.brands.service import BrandService

            await BrandService(session).get(brand_uuid)
            service = GeofenceService(session, Principal(brand_uuid, Role.ADMIN))
            return await service.import_collection(collection, progress=lambda n: progress.advance(task, n))

        try:
            result = _in_session(app, work)
        except ApiError as exc:
            progress.stop()
            click.echo(f"error: {exc.detail}", err=True)
            for error in exc.errors or []:
                click.echo(f"  {error.field}: {error.message}", err=True)
            sys.exit(1)
    click.echo(f"imported {result.imported} geofences")


@click.group("maintenance", cls=LitestarGroup, help="Data retention and housekeeping (safe while the API serves).")
def maintenance_group() -> None:
    pass


@maintenance_group.command(
    "purge",
    help="Coarsen raw check-in coordinates older than each brand's retention days; drop expired idempotency keys"
    " and finished webhook messages past their keeping time.",
)
@click.option("--batch", default=5000, show_default=True, help="Rows per short transaction.")
@click.option(
    "--delete", "delete_coordinates", is_flag=True, help="Delete coordinates instead of keeping a ~1 km grid."
)
def maintenance_purge(app: Litestar, batch: int, delete_coordinates: bool) -> None:
    from solomo.checkins.retention import purge
    from solomo.webhooks.retention import KEEP_DAYS, purge_old_messages

    report = _with_engine(app, lambda engine: purge(engine, batch=batch, keep_coarse=not delete_coordinates))
    verb = "deleted" if delete_coordinates else "coarsened"
    click.echo(f"{verb} the coordinates of {report.coarsened} check-ins")
    if report.whole_partitions:
        click.echo(f"  whole partitions past every brand's retention: {', '.join(report.whole_partitions)}")
    click.echo(f"removed {report.expired_keys} expired idempotency keys")
    messages = _with_engine(app, lambda engine: purge_old_messages(engine, batch=batch))
    click.echo(f"removed {messages} webhook messages done more than {KEEP_DAYS} days ago (or the brand's retention)")


@maintenance_group.command("partitions", help="Create monthly check-in partitions ahead of time.")
@click.option("--months-ahead", default=3, show_default=True, type=click.IntRange(0, 24))
def maintenance_partitions(app: Litestar, months_ahead: int) -> None:
    from solomo.checkins.retention import ensure_partitions

    made = _with_engine(app, lambda engine: ensure_partitions(engine, months_ahead=months_ahead))
    for line in made or ["all partitions exist"]:
        click.echo(line)


@maintenance_group.command(
    "rebuild-stats",
    help="Rebuild the stats rollups from raw rows (all brands, or --brand): after a time-zone change or a merge.",
)
@click.option("--brand", "brand_id", default=None, help="Only this brand's id.")
def maintenance_rebuild_stats(app: Litestar, brand_id: str | None) -> None:
    from solomo.stats.rollups import rebuild_all

    if brand_id is not None:
        try:
            uuid.UUID(brand_id)
        except ValueError as exc:
            raise click.BadParameter(f"{brand_id!r} is not a brand id", param_hint="--brand") from exc
    started = time.perf_counter()
    rebuilt = _with_engine(app, lambda engine: rebuild_all(engine, uuid.UUID(brand_id) if brand_id else None))
    for brand, events in rebuilt.items():
        click.echo(f"brand {brand}: rebuilt from {events} events")
    click.echo(f"done in {time.perf_counter() - started:.1f} s")


@click.command("openapi", help="Write openapi/openapi.json from the app (or --check that it is current).")
@click.option("--check", is_flag=True, help="Exit 1 if the committed file differs from the app's schema.")
@click.option("--output", type=click.Path(path_type=Path), default=None)
def openapi_command(app: Litestar, check: bool, output: Path | None) -> None:
    from solomo.openapi_doc import OPENAPI_PATH, render_openapi

    target = output or OPENAPI_PATH
    rendered = render_openapi(app)
    if check:
        if not target.exists() or target.read_text() != rendered:
            click.echo(f"{target} is out of date: run `solomo openapi`", err=True)
            sys.exit(1)
        click.echo(f"{target} is current")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(rendered)
    click.echo(f"wrote {target}")


@click.group(
    "solomo",
    cls=LitestarGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Each command has its own --help. From a checkout, ./dev run COMMAND runs any of them.",
)
@click.version_option(__version__, "--version", prog_name="solomo")
@click.pass_context
def solomo_group(ctx: click.Context) -> None:
    """SoLoMo: stores and geofences, check-ins, offers and O2O coupons, over PostGIS.

    Without SOLOMO_DATABASE_URL, a command that needs a database first creates and starts the private
    PostGIS cluster under .solomo/ (and `run` migrates it).
    """
    from litestar.cli._utils import LitestarEnv

    # Built here rather than by Litestar's own root group, whose help and commands (sessions, schema, info …)
    # are not ours; Advanced Alchemy's `database` group reads the loaded app from ctx.obj.
    ctx.obj = LitestarEnv.from_env(APP_FACTORY)


def _add_commands(group: click.Group) -> None:
    from advanced_alchemy.extensions.litestar.cli import database_group

    for command in (
        run_command, worker_command, stop_command, demo_command, brands_group, keys_group, geofences_group,
        maintenance_group, openapi_command, database_group,
    ):  # fmt: skip
        group.add_command(command)


def main() -> None:
    """Entry point of the `solomo` console script."""
    os.environ.setdefault("LITESTAR_APP", APP_FACTORY)
    args = sys.argv[1:]
    command = next((a for a in args if not a.startswith("-")), None)
    needs_db = command is not None and command not in _NO_DATABASE and "--help" not in args and "-h" not in args
    _add_commands(solomo_group)
    if not (needs_db and _uses_local_cluster()):
        solomo_group(prog_name="solomo")
        return
    from solomo.config import get_settings
    from solomo.db.cluster import ClusterError, dev_cluster_in_use

    try:
        # Held while the command runs; a cluster the command started is stopped when it ends, Ctrl-C included.
        with dev_cluster_in_use(get_settings().local_dir):
            solomo_group(prog_name="solomo")
    except ClusterError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
