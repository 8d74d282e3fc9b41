"""`solomo run` on the private cluster, as `./dev demo` uses it: Ctrl-C, a port in use, and `./dev stop`.

These start real servers on a private cluster of their own (SOLOMO_LOCAL_DIR in a temporary folder), the way a
newcomer's first `./dev demo` does, without the demo data (it changes nothing here and takes a minute).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from solomo.db.cluster import LocalCluster, dev_cluster
from tests.cli import SOLOMO

STARTUP_S = 180  # the first start creates and migrates the cluster; a busy machine is slow


@pytest.fixture(scope="module")
def local_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("solomo-local")
    yield folder
    if (folder / "pg").exists() or (folder / "pg-location").exists():
        dev_cluster(folder).destroy()


def _env(local_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SOLOMO_DATABASE_URL", "SOLOMO_TEST_DATABASE_URL")}
    return env | {"SOLOMO_LOCAL_DIR": str(local_dir), "SOLOMO_STATS_FOLD_SECONDS": "0"}


def _solomo(local_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SOLOMO, *args], env=_env(local_dir), capture_output=True, text=True, timeout=120, check=False
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    def __init__(self, local_dir: Path, port: int) -> None:
        self.port = port
        self.log = local_dir / f"server-{port}-{time.monotonic_ns()}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [SOLOMO, "run", "--port", str(port)], env=_env(local_dir), stdout=log, stderr=subprocess.STDOUT
            )

    def wait_live(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health/live", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        pytest.fail(f"not serving after {STARTUP_S} s: {self.log.read_text()}")

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def servers(local_dir: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def _cluster(local_dir: Path) -> LocalCluster:
    return dev_cluster(local_dir)


def _webhook_workers(pid: int) -> list[int]:
    """The `solomo worker` children of a server (its webhook delivery worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = []
    for child in children:
        try:
            if b"worker\0--parent-pid" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
        except OSError:
            pass
    return found


def test_ctrl_c_stops_the_server_and_the_cluster_it_started(local_dir: Path, servers: list[Server]) -> None:
    port = _free_port()
    servers.append(first := Server(local_dir, port))
    first.wait_live()
    assert _cluster(local_dir).is_running()
    [worker] = _webhook_workers(first.process.pid)  # `solomo run` delivers webhooks too

    # A second server on the same port refuses at once instead of sharing the port with the first.
    started = time.monotonic()
    second = _solomo(local_dir, "run", "--port", str(port))
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in second.stderr
    assert "./dev stop" in second.stderr
    print(f"refused in {time.monotonic() - started:.1f} s")
    assert _cluster(local_dir).is_running(), "the refused server left the first one's cluster alone"
    assert httpx.get(f"http://127.0.0.1:{port}/health/live").status_code == 200

    assert first.interrupt() == 0, first.log.read_text()
    assert not _cluster(local_dir).is_running(), first.log.read_text()
    assert "Stopping the local PostGIS cluster this command started" in first.log.read_text()
    assert "webhook worker stopped" in first.log.read_text()
    assert not Path(f"/proc/{worker}").exists(), "the webhook worker stopped with its server"
    assert not list((local_dir / "servers").iterdir())


def test_ctrl_c_leaves_a_cluster_running_before_and_dev_stop_stops_everything(
    local_dir: Path, servers: list[Server]
) -> None:
    cluster = _cluster(local_dir)
    if not cluster.initialized:  # run alone: let a first server create the cluster
        servers.append(creator := Server(local_dir, _free_port()))
        creator.wait_live()
        creator.interrupt()
    cluster.start()  # by hand, before any server: not theirs to stop
    servers.append(server := Server(local_dir, _free_port()))
    server.wait_live()
    assert server.interrupt() == 0, server.log.read_text()
    assert cluster.is_running(), server.log.read_text()

    # `./dev stop` from another terminal: the server of this checkout ends, and the cluster with it.
    servers.append(elsewhere := Server(local_dir, _free_port()))
    elsewhere.wait_live()
    stop = _solomo(local_dir, "stop")
    assert stop.returncode == 0, stop.stderr
    assert f"stopped server {elsewhere.process.pid} on 127.0.0.1:{elsewhere.port}" in stop.stdout
    assert elsewhere.process.wait(timeout=10) == 0
    assert not cluster.is_running()
    assert "nothing of this checkout is running now" in stop.stdout
