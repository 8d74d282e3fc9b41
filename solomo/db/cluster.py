"""A private PostGIS cluster that the project starts itself, for development and for tests.

The server refuses to run as root, so when we are root every server-side binary runs as the
``postgres`` system user. The cluster listens only on a Unix socket inside its data directory,
so it never collides with another cluster on port 5432.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import quote

SUPERUSER = "postgres"
# A Unix socket path must fit in sockaddr_un (108 bytes) with ".s.PGSQL.5432" appended.
_MAX_SOCKET_DIR = 90


class ClusterError(RuntimeError):
    """The local cluster could not be set up; the message says what to do."""


def _is_root() -> bool:
    return os.geteuid() == 0


def pg_bindir() -> Path:
    """Where initdb and pg_ctl live: Debian keeps them off PATH, in ``pg_config --bindir``."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if out.returncode == 0 and (candidate / "initdb").exists():
            return candidate
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    msg = "PostgreSQL server binaries not found: install PostgreSQL 15 (Debian: apt-get install postgresql-15)"
    raise ClusterError(msg)


def _pg_major(bindir: Path) -> str:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True)
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    return out.stdout.split()[2].split(".")[0]


def _sharedir(bindir: Path) -> Path:
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            return Path(out.stdout.strip())
    return Path("/usr/share/postgresql") / _pg_major(bindir)


#: The extensions the schema needs beyond PostgreSQL itself, by control file and Debian package (major version
#: filled in): PostGIS for places, hll for the stats' unique-member sketches.
_EXTENSIONS = {"postgis": "postgresql-{major}-postgis-3", "hll": "postgresql-{major}-hll"}


def _missing_packages(bindir: Path) -> list[str]:
    extensions = _sharedir(bindir) / "extension"
    major = _pg_major(bindir)
    return [
        package.format(major=major)
        for name, package in _EXTENSIONS.items()
        if not (extensions / f"{name}.control").exists()
    ]


def postgis_installed(bindir: Path) -> bool:
    return not _missing_packages(bindir)


#: How long apt-get waits for the dpkg and lists locks before it gives up.
APT_LOCK_WAIT_S = 600


def _terminal() -> IO[str] | None:
    """The terminal, when our own output is captured (pytest captures descriptors 1 and 2) and there is one."""
    if sys.stdout.isatty():
        return None
    try:
        return open("/dev/tty", "w")  # closed by the caller
    except OSError:
        return None  # no terminal (CI): the output goes wherever ours goes


def _apt_get(*args: str) -> None:
    """apt-get that waits for a busy package lock and shows its progress on the terminal, even under pytest."""
    command = ["apt-get", "-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT_S}", *args]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    terminal = _terminal()
    with terminal or contextlib.nullcontext():
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, check=False)
    if done.returncode != 0:
        msg = (
            f"`{' '.join(command)}` failed ({done.returncode}); its output is above. If another apt still holds"
            " the lock, let it finish and run this again."
        )
        raise ClusterError(msg)


def ensure_postgis(bindir: Path, *, install: bool = True) -> None:
    """Install PostGIS and hll with apt when we may (root on Debian/Ubuntu), else say exactly what is missing."""
    missing = _missing_packages(bindir)
    if not missing:
        return
    if install and _is_root() and shutil.which("apt-get"):
        print(
            f"Installing {' '.join(missing)} with apt-get; if another apt holds the package lock (unattended"
            f" upgrades on a fresh machine), waiting for it up to {APT_LOCK_WAIT_S // 60} minutes …",
            flush=True,
        )
        _apt_get("update")
        _apt_get("install", "-y", *missing)
        if not _missing_packages(bindir):
            return
    msg = f"PostgreSQL {_pg_major(bindir)} lacks extensions: run `sudo apt-get install -y {' '.join(missing)}`"
    raise ClusterError(msg)


class LocalCluster:
    """One PostgreSQL data directory, its server and its databases."""

    def __init__(self, datadir: Path, *, durable: bool = True) -> None:
        self.datadir = datadir
        self.durable = durable
        self.bindir = pg_bindir()
        socket_dir = str(datadir)
        if len(socket_dir) > _MAX_SOCKET_DIR:
            socket_dir = str(
                Path(tempfile.gettempdir()) / f"solomo-{hashlib.sha256(socket_dir.encode()).hexdigest()[:12]}"
            )
        self.socket_dir = Path(socket_dir)

    # -- running binaries -------------------------------------------------------------------
    def _as_owner(self, args: Sequence[str]) -> list[str]:
        return ["runuser", "-u", SUPERUSER, "--", *args] if _is_root() else list(args)

    def _run(self, args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self._as_owner(args), capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        if check and proc.returncode != 0:
            msg = f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
            raise ClusterError(msg)
        return proc

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if _is_root():
            shutil.chown(self.datadir, SUPERUSER, SUPERUSER)
        self.datadir.chmod(0o700)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D", str(self.datadir),
                "-U", SUPERUSER,
                "--auth=trust",  # only reachable through the socket in a directory of ours
                "--encoding=UTF8",
                "--locale=C.UTF-8",  # the only UTF-8 locale such a machine is sure to have
            ]
        )  # fmt: skip

    def is_running(self) -> bool:
        return self._run([str(self.bindir / "pg_ctl"), "status", "-D", str(self.datadir)], check=False).returncode == 0

    def start(self) -> None:
        if self.is_running():
            return
        if self.socket_dir != self.datadir:
            self.socket_dir.mkdir(mode=0o755, exist_ok=True)
            if _is_root():
                shutil.chown(self.socket_dir, SUPERUSER, SUPERUSER)
        options = [
            f"-k {self.socket_dir}",
            "-c listen_addresses=''",
            "-c jit=off",  # JIT compilation costs more than it saves on short OLTP queries
            "-c max_connections=200",
        ]
        if not self.durable:
            # A throwaway test cluster: losing it on a crash costs nothing.
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        # Without -l, pg_ctl keeps the captured stdout open and never returns.
        self._run(
            [
                str(self.bindir / "pg_ctl"), "start", "-w", "-t", "60",
                "-D", str(self.datadir),
                "-l", str(self.datadir / "server.log"),
                "-o", " ".join(options),
            ]
        )  # fmt: skip

    def stop(self) -> None:
        if self.initialized and self.is_running():
            self._run([str(self.bindir / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(self.datadir)])

    # -- databases --------------------------------------------------------------------------
    def url(self, dbname: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@/{quote(dbname)}?host={quote(str(self.socket_dir))}"

    def psql(self, sql: str, *, dbname: str = "postgres") -> str:
        # psql is a client: it may run as root, connecting as the postgres role over the socket.
        proc = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1",
             "-h", str(self.socket_dir), "-U", SUPERUSER, "-d", dbname, "-c", sql],
            capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if proc.returncode != 0:
            msg = f"psql failed: {proc.stderr.strip()}"
            raise ClusterError(msg)
        return proc.stdout.strip()

    def ensure_database(self, dbname: str, extensions: Sequence[str] = ("postgis",)) -> str:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'")
        if not exists:
            self.psql(f'CREATE DATABASE "{dbname}"')
        for ext in extensions:
            self.psql(f'CREATE EXTENSION IF NOT EXISTS "{ext}"', dbname=dbname)
        return self.url(dbname)

    def destroy(self) -> None:
        """Stop the server and delete the data directory with the folder around it."""
        self.stop()
        shutil.rmtree(self.datadir.parent if self.datadir.name == "pg" else self.datadir, ignore_errors=True)
        if self.socket_dir != self.datadir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


#: Present while the development cluster runs because this project's code started it (not the user by hand).
_STARTED_BY_SOLOMO = "cluster.started"


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Serialise set-up between processes (a demo and a test run started together)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def dev_datadir(local_dir: Path) -> Path:
    """``.solomo/pg`` in the checkout, or a stable directory under /var/tmp when postgres cannot reach it."""
    local_dir.mkdir(parents=True, exist_ok=True)
    preferred = local_dir / "pg"
    if preferred.exists() or _postgres_can_reach(local_dir):
        return preferred
    digest = hashlib.sha256(str(local_dir.resolve()).encode()).hexdigest()[:12]
    fallback = Path("/var/tmp") / f"solomo-{digest}"
    fallback.mkdir(mode=0o755, exist_ok=True)
    (local_dir / "pg-location").write_text(f"{fallback / 'pg'}\n")
    return fallback / "pg"


def _postgres_can_reach(local_dir: Path) -> bool:
    if _is_root():
        # root creates the data directory and hands it to postgres; postgres only needs to reach it.
        local_dir.chmod(0o755)
        probe = subprocess.run(["runuser", "-u", SUPERUSER, "--", "test", "-x", str(local_dir)], check=False)
        return probe.returncode == 0
    return os.access(local_dir, os.W_OK | os.X_OK)


def _ready_dev_cluster(local_dir: Path) -> LocalCluster:
    """Create (first time) and start the development cluster; call under ``cluster.lock``."""
    cluster = LocalCluster(dev_datadir(local_dir))
    ensure_postgis(cluster.bindir)
    if not cluster.initialized:
        print(f"Creating a local PostGIS cluster in {cluster.datadir} …", flush=True)
        cluster.init()
    if not cluster.is_running():
        cluster.start()
        (local_dir / _STARTED_BY_SOLOMO).write_text(f"{os.getpid()}\n")
    return cluster


def known_revisions() -> frozenset[str]:
    """The revisions of this checkout's migrations."""
    from alembic.script import ScriptDirectory

    from solomo.config import MIGRATIONS_DIR

    return frozenset(script.revision for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions())


def _dev_database(cluster: LocalCluster, dbname: str) -> str:
    """Prepare the development database; one at a revision this checkout does not know is dropped and recreated.

    That happens when the history was squashed (nothing was released before the baseline): a database at a revision
    of the old history cannot be upgraded, and in the private development cluster it holds only demo data.
    """
    if cluster.psql(f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'"):
        found = cluster.psql("SELECT to_regclass('public.alembic_version') IS NOT NULL", dbname=dbname)
        revisions = cluster.psql("SELECT version_num FROM alembic_version", dbname=dbname) if found == "t" else ""
        unknown = set(revisions.split()) - known_revisions()
        if unknown:
            print(
                f"The local database {dbname!r} is at revision {', '.join(sorted(unknown))}, which these migrations"
                " no longer have (the history was squashed into one baseline): dropping and recreating it …",
                flush=True,
            )
            cluster.psql(f'DROP DATABASE "{dbname}" WITH (FORCE)')
    return cluster.ensure_database(dbname)


def ensure_dev_cluster(local_dir: Path, dbname: str = "solomo") -> str:
    """Create (first time), start and prepare the development cluster; return its asyncpg URL."""
    with _locked(local_dir / "cluster.lock"):
        return _dev_database(_ready_dev_cluster(local_dir), dbname)


def dev_cluster(local_dir: Path) -> LocalCluster:
    return LocalCluster(dev_datadir(local_dir))


@contextmanager
def dev_cluster_in_use(local_dir: Path, dbname: str = "solomo") -> Iterator[str]:
    """The development cluster, started if need be, for as long as this process uses it; yields its URL.

    Each `solomo` process holds a shared lock on ``cluster.users`` while it runs. When the last one leaves a
    cluster that a `solomo` command started, it stops it, so Ctrl-C on `./dev demo` leaves nothing running;
    a cluster that was already running when the first of them came (started by hand) is left as it was.
    """
    local_dir.mkdir(parents=True, exist_ok=True)
    mark = local_dir / _STARTED_BY_SOLOMO
    with (local_dir / "cluster.users").open("a") as users:
        with _locked(local_dir / "cluster.lock"):
            cluster = _ready_dev_cluster(local_dir)
            url = _dev_database(cluster, dbname)
            fcntl.flock(users, fcntl.LOCK_SH)
        try:
            yield url
        finally:
            with _locked(local_dir / "cluster.lock"):
                fcntl.flock(users, fcntl.LOCK_UN)
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass  # another solomo process still uses it: the last one out stops it
                else:
                    if mark.exists():
                        print("Stopping the local PostGIS cluster this command started …", flush=True)
                        cluster.stop()
                        mark.unlink(missing_ok=True)
                    fcntl.flock(users, fcntl.LOCK_UN)


def stop_dev_cluster(local_dir: Path) -> bool:
    """Stop the development cluster however it was started; True if it was running."""
    with _locked(local_dir / "cluster.lock"):
        cluster = dev_cluster(local_dir)
        running = cluster.initialized and cluster.is_running()
        cluster.stop()
        (local_dir / _STARTED_BY_SOLOMO).unlink(missing_ok=True)
        return running


def throwaway_cluster() -> LocalCluster:
    """A fresh, non-durable cluster in a temporary directory (for a test session)."""
    parent = Path(tempfile.mkdtemp(prefix="solomo-test-"))
    parent.chmod(0o755)
    cluster = LocalCluster(parent / "pg", durable=False)
    ensure_postgis(cluster.bindir)
    cluster.init()
    cluster.start()
    return cluster
