"""Where the CPU went during a measurement, by process group, from /proc (Linux); and a py-spy profile summary.

App, database and load generator share two cores, so throughput is a CPU budget: the figures say how many
CPU-milliseconds each part spends per check-in, and how much other processes on the machine took meanwhile
(a benchmark on a shared box is only as good as that last number is small).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class _Proc:
    ppid: int
    session: int
    own_s: float  # utime + stime
    reaped_s: float  # cutime + cstime: children it waited for (postgres backends that ended)


def _processes() -> dict[int, _Proc]:
    found: dict[int, _Proc] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:  # ended while we looked
            continue
        # After "pid (comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
        # utime stime cutime cstime … (proc(5)); comm may hold spaces and parentheses, hence rindex.
        fields = raw[raw.rindex(")") + 2 :].split()
        found[int(entry.name)] = _Proc(
            ppid=int(fields[1]),
            session=int(fields[3]),
            own_s=(int(fields[11]) + int(fields[12])) / _TICKS,
            reaped_s=(int(fields[13]) + int(fields[14])) / _TICKS,
        )
    return found


def _machine_busy_s() -> float:
    """CPU seconds spent by the whole machine, all cores, anything but idle and I/O wait."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _TICKS


def _children_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU seconds over ``seconds`` of wall time."""

    seconds: float
    app: float
    db: float
    loadgen: float
    bench: float
    rest: float
    cores: int

    def share(self, cpu_s: float) -> float:
        """As cores busy on average (2.0 = both cores of a 2-core machine)."""
        return cpu_s / self.seconds if self.seconds > 0 else 0.0

    @property
    def idle(self) -> float:
        return max(0.0, self.cores - self.share(self.app + self.db + self.loadgen + self.bench + self.rest))


class CpuMeter:
    """Splits the machine's CPU time between the API server, PostgreSQL, wrk, this process and the rest.

    * app: every process in the server's session (granian's supervisor and workers);
    * db: the postmaster and its children, plus what the postmaster reaped (backends that ended, e.g.
      connections an application pool closed);
    * loadgen: children this process reaped meanwhile (wrk, which ends with the measurement);
    * rest: the machine's busy time minus all of that: other processes, and interrupts.
    """

    def __init__(self, server_pid: int, postmaster_pid: int) -> None:
        self.server_pid = server_pid
        self.postmaster_pid = postmaster_pid

    @contextmanager
    def measure(self) -> Iterator[list[CpuUse]]:
        """``with meter.measure() as box: …`` then ``box[0]`` is the CpuUse of the block."""
        before, busy, children, started = _processes(), _machine_busy_s(), _children_s(), time.monotonic()
        box: list[CpuUse] = []
        yield box
        after, busy_after, children_after = _processes(), _machine_busy_s(), _children_s()
        seconds = time.monotonic() - started

        def spent(pid: int, proc: _Proc) -> float:
            old = before.get(pid)
            return proc.own_s - (old.own_s if old else 0.0)

        app = sum(spent(pid, p) for pid, p in after.items() if p.session == self.server_pid)
        db = sum(spent(pid, p) for pid, p in after.items() if self.postmaster_pid in (pid, p.ppid))
        master, master_before = after.get(self.postmaster_pid), before.get(self.postmaster_pid)
        if master and master_before:
            # Backends that ended meanwhile: the postmaster reaped their whole lifetime, of which only the part
            # after the first snapshot belongs to this measurement.
            ended = sum(p.own_s for pid, p in before.items() if p.ppid == self.postmaster_pid and pid not in after)
            db += master.reaped_s - master_before.reaped_s - ended
        me = os.getpid()
        bench = spent(me, after[me]) if me in after else 0.0
        loadgen = children_after - children
        rest = max(0.0, busy_after - busy - app - db - loadgen - bench)
        box.append(CpuUse(seconds, app, db, loadgen, bench, rest, os.cpu_count() or 1))


def postmaster_pid(datadir: Path) -> int:
    """The first line of postmaster.pid (readable: we are root, or the cluster's owner)."""
    return int((datadir / "postmaster.pid").read_text().split("\n", 1)[0])


def child_pids(parent: int) -> list[int]:
    return sorted(pid for pid, p in _processes().items() if p.ppid == parent)


# -- py-spy --------------------------------------------------------------------------------------


def py_spy_command() -> list[str] | None:
    """py-spy on PATH, or run by uvx from PyPI (kept outside the project's environment), or None."""
    found = shutil.which("py-spy")
    if found:
        return [found]
    uvx = shutil.which("uvx")
    return [uvx, "py-spy"] if uvx else None


def start_profile(command: list[str], pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """Samples one granian worker while it holds the GIL (``--gil``): where its Python time goes."""
    return subprocess.Popen(  # noqa: S603 - py-spy with fixed arguments
        [*command, "record", "--gil", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "250",
         "-f", "raw", "-o", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def summarise_profile(raw: Path, top: int = 25) -> str:
    """Self time by package and the heaviest frames by inclusive time, from py-spy's collapsed stacks."""
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        by_package[_package(frames[-1])] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return "(py-spy recorded no samples)"
    lines = [f"{total} samples of one worker holding the GIL; self time by package:"]
    lines += [f"  {n / total:6.1%}  {package}" for package, n in by_package.most_common(12)]
    lines.append("inclusive time of the heaviest frames below the event loop (a frame counts once per sample):")
    # Frames in nearly every sample are the event loop and granian's plumbing: they say nothing.
    heavy = [(f, n) for f, n in inclusive.most_common() if n / total < 0.65]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in heavy[:top]]
    return "\n".join(lines)


def _package(frame: str) -> str:
    """'f (litestar/app.py:924)' → 'litestar'; frames without a file (native code) → '(native)'."""
    start = frame.rfind("(")
    if start < 0 or ":" not in frame[start:]:
        return "(native)"
    path = frame[start + 1 : frame.rindex(":")]
    return path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")
