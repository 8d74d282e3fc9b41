"""The servers `solomo run` starts on this machine: a port already taken, who is serving, and `solomo stop`.

`solomo run` also starts the webhook delivery worker as a child process (`solomo worker`), not as a task in the
app's lifespan: granian runs the app in one process per ``--workers``, and one delivery worker per server is
enough (several are safe, but each would hold its own LISTEN connection and send pool); a separate process keeps
slow receivers' sends and signing off the event loop that answers API requests. Ctrl-C reaches both (one process
group); `./dev stop` signals the server, which stops its worker on the way out; a worker whose server was killed
notices its parent is gone and stops too.

granian listens with SO_REUSEPORT, so a second server on a port in use starts silently and the kernel shares
connections between the two; `solomo run` first binds the port itself, without that option, and refuses.
Each server writes ``servers/<pid>`` under the local directory, so that `solomo stop` (``./dev stop``) can end
the servers of this checkout, and with them the private cluster, from another terminal.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

#: How long `solomo stop` gives a server to finish its requests and stop the cluster it started.
STOP_WAIT_S = 30.0
#: How long a server waits for its webhook worker to finish the sends in flight (each has 15 s at most).
WORKER_STOP_WAIT_S = 20.0


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on, with a message that says what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR lets the probe bind past connections still in TIME_WAIT, never past a listener.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
            msg = (
                f"port {port} on {host} is already in use (another `./dev demo` or `solomo run`?). "
                "Stop it with `./dev stop`, or pick another port with --port."
            )
            raise click.ClickException(msg) from exc


def _servers_dir(local_dir: Path) -> Path:
    return local_dir / "servers"


@contextmanager
def registered_server(local_dir: Path, host: str, port: int) -> Iterator[None]:
    """Note this process as a server of the checkout while it serves."""
    entry = _servers_dir(local_dir) / str(os.getpid())
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(f"{host} {port}\n")
    try:
        yield
    finally:
        entry.unlink(missing_ok=True)


@contextmanager
def worker_process(*, enabled: bool) -> Iterator[subprocess.Popen[bytes] | None]:
    """`solomo worker` as a child while the server runs; stopped (SIGINT, as Ctrl-C) and waited for after it."""
    if not enabled:
        yield None
        return
    command = [sys.executable, "-c", "from solomo.cli import main; main()", "worker", "--parent-pid", str(os.getpid())]
    child = subprocess.Popen(command)  # noqa: S603 (our own interpreter and command)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
        try:
            child.wait(WORKER_STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _is_ours(pid: int) -> bool:
    """The pid is alive and still a solomo process (a pid left by a crash may belong to anything by now)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"solomo" in cmdline


def running_servers(local_dir: Path) -> dict[int, str]:
    """The live servers of this checkout, by pid, with the address each serves on; stale entries are removed."""
    found: dict[int, str] = {}
    directory = _servers_dir(local_dir)
    for entry in sorted(directory.iterdir()) if directory.is_dir() else []:
        if entry.name.isdigit() and _is_ours(int(entry.name)):
            found[int(entry.name)] = entry.read_text().strip().replace(" ", ":")
        else:
            entry.unlink(missing_ok=True)
    return found


def stop_servers(local_dir: Path, wait_s: float = STOP_WAIT_S) -> list[str]:
    """Ask every server of this checkout to stop (SIGINT, as Ctrl-C does) and wait for them; say what stopped."""
    servers = running_servers(local_dir)
    for pid in servers:
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and any(_is_ours(pid) for pid in servers):
        time.sleep(0.2)
    left = [pid for pid in servers if _is_ours(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return [f"server {pid} on {address}" + (" (killed)" if pid in left else "") for pid, address in servers.items()]
