"""A private PostGIS cluster that the project starts itself, for development and for tests.

The server refuses to run as root, so when we are root every server-side binary runs as the
``postgres`` system user. The cluster listens only on a Unix socket inside its data directory,
so it never collides with another cluster on port 5432.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
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


def ensure_postgis(bindir: Path, *, install: bool = True) -> None:
    """Install PostGIS and hll with apt when we may (root on Debian/Ubuntu), else say exactly what is missing."""
    missing = _missing_packages(bindir)
    if not missing:
        return
    if install and _is_root() and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        print(f"Installing {' '.join(missing)} with apt-get …", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
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


def ensure_dev_cluster(local_dir: Path, dbname: str = "solomo") -> str:
    """Create (first time), start and prepare the development cluster; return its asyncpg URL."""
    with _locked(local_dir / "cluster.lock"):
        cluster = LocalCluster(dev_datadir(local_dir))
        ensure_postgis(cluster.bindir)
        if not cluster.initialized:
            print(f"Creating a local PostGIS cluster in {cluster.datadir} …", flush=True)
            cluster.init()
        cluster.start()
        return cluster.ensure_database(dbname)


def dev_cluster(local_dir: Path) -> LocalCluster:
    return LocalCluster(dev_datadir(local_dir))


def throwaway_cluster() -> LocalCluster:
    """A fresh, non-durable cluster in a temporary directory (for a test session)."""
    parent = Path(tempfile.mkdtemp(prefix="solomo-test-"))
    parent.chmod(0o755)
    cluster = LocalCluster(parent / "pg", durable=False)
    ensure_postgis(cluster.bindir)
    cluster.init()
    cluster.start()
    return cluster
