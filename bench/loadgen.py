"""wrk as the load generator: a C client with a LuaJIT script (bench/checkins.lua, bench/claims.lua, both on
bench/wrklib.lua), light enough to share the box.

wrk has no request count and no fixed rate of its own. The Lua drivers add both: each thread stops after
its share of responses (and says so on stderr, so that we interrupt wrk's main thread, which otherwise
sleeps for the whole ``-d``), and a paced run books one send slot every 1/rate seconds in ``delay()``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LUA_DRIVER = Path(__file__).resolve().parent / "checkins.lua"
#: Each line of its data file one request, sent once; a thread stops when all it sent is answered.
ONCE_DRIVER = Path(__file__).resolve().parent / "claims.lua"
THREADS = 2
_RESULT = "SOLOMO_BENCH_RESULT "
_THREAD_DONE = "SOLOMO_BENCH_THREAD_DONE"


@dataclass(frozen=True, slots=True)
class HttpResult:
    label: str
    connections: int
    responses: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    late_sends: int
    max_lag_ms: float
    sample_error: str
    #: Requests the Lua driver built (checkins.lua also counts wrk's one start-up check call).
    sent: int = 0

    @property
    def ok(self) -> int:
        return sum(n for code, n in self.statuses.items() if code.startswith("2"))

    @property
    def errors(self) -> int:
        """Answers other than 2xx, plus connections wrk saw fail or time out."""
        return self.responses - self.ok + sum(self.socket_errors.values())

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def find_wrk() -> str:
    """wrk from Debian; installed with apt-get when we are root, else the way to install it is printed."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() == 0 and apt:
        print("wrk is not installed: installing it with apt-get …", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([apt, "update", "-qq"], check=True, env=env)  # noqa: S603 - fixed arguments
        subprocess.run([apt, "install", "-y", "-qq", "wrk"], check=True, env=env)  # noqa: S603
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("wrk is needed as the load generator: install it with `sudo apt-get install -y wrk` (Debian/Ubuntu)")


class Wrk:
    def __init__(
        self,
        binary: str,
        base_url: str,
        workdir: Path,
        members: Sequence[tuple[str, Sequence[str]]],
        *,
        path: str = "/v1/checkins",
        script: Path = LUA_DRIVER,
        name: str = "members",
        grace_s: float = 0.0,
    ) -> None:
        """``members``: a line each, its token then its fields (checkins.lua: the JSON fragments of the points a
        member visits; claims.lua: the request's body, if any). ``grace_s``: added to wrk's -d, for a driver
        that stops sending by itself after the duration limit and then waits for its last answers."""
        self.binary = binary
        self.base_url = base_url
        self.path = path
        self.script = script
        self.grace_s = grace_s
        self.workdir = workdir
        self.data_path = workdir / f"{name}.tsv"
        # One line per member, token then points; the Lua driver deals the members out to wrk's threads.
        with self.data_path.open("w") as out:
            for token, fragments in members:
                out.write("\t".join([token, *fragments]) + "\n")
        self.commands: list[str] = []

    def run(
        self,
        label: str,
        connections: int,
        requests: int,
        duration_limit_s: float,
        rate: float = 0.0,
        path: str | None = None,
    ) -> HttpResult:
        """``requests`` answers (or until ``duration_limit_s``), as fast as possible or at ``rate`` per second;
        to ``path`` if given, else to the path the instance was made with."""
        path = path or self.path
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
        config = self.workdir / f"wrk-{slug}.lua"
        config.write_text(
            f"return {{ data_path = {json.dumps(str(self.data_path))}, threads = {THREADS},"
            f" limit = {math.ceil(requests / THREADS)}, rate = {rate / THREADS:.6f},"
            f" seconds = {duration_limit_s:.3f}, path = {json.dumps(path)} }}\n"
        )
        duration = max(1, math.ceil(duration_limit_s + self.grace_s))
        command = [
            self.binary, "-t", str(THREADS), "-c", str(connections), "-d", f"{duration}s",
            "-s", str(self.script), f"{self.base_url}{path}",
        ]  # fmt: skip
        self.commands.append(f"SOLOMO_BENCH_CONFIG={config} {shlex.join(command)}")
        proc = subprocess.Popen(  # noqa: S603 - wrk found on PATH, fixed arguments
            command,
            env={**os.environ, "SOLOMO_BENCH_CONFIG": str(config)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stderr_lines: list[str] = []
        watcher = threading.Thread(target=_watch, args=(proc, stderr_lines), daemon=True)
        watcher.start()
        # A hung run must not hang the benchmark: wrk gets its -d and a minute more.
        killer = threading.Timer(duration + 60, proc.kill)
        killer.start()
        try:
            assert proc.stdout is not None
            stdout = proc.stdout.read()
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            killer.cancel()
        watcher.join(timeout=5)
        return _parse(label, connections, stdout, stderr_lines)


def _watch(proc: subprocess.Popen[str], lines: list[str]) -> None:
    """Interrupts wrk (SIGINT: it prints its results and exits) once every thread reached its count."""
    assert proc.stderr is not None
    done = 0
    for line in proc.stderr:
        if line.startswith(_THREAD_DONE):
            done += 1
            if done == THREADS and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        else:
            lines.append(line)


def _parse(label: str, connections: int, stdout: str, stderr_lines: list[str]) -> HttpResult:
    line = next((x for x in stdout.splitlines() if x.startswith(_RESULT)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{stdout}\n{''.join(stderr_lines)}")
    data = json.loads(line[len(_RESULT) :])
    return HttpResult(
        label=label,
        connections=connections,
        responses=int(data["responses"]),
        seconds=float(data["seconds"]),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        statuses={str(k): int(v) for k, v in data["statuses"].items()},
        socket_errors={str(k): int(v) for k, v in data["socket_errors"].items()},
        late_sends=int(data["late_sends"]),
        max_lag_ms=float(data["max_lag_s"]) * 1000,
        sample_error=str(data["sample_error"]),
        sent=int(data.get("sent", 0)),
    )
