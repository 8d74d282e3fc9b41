"""Installing PostGIS with apt on a fresh machine, where unattended upgrades may hold the package lock.

A fake ``apt-get`` on PATH stands in for the real one: it records its arguments and prints progress.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from solomo.db import cluster


@pytest.fixture
def fake_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    calls = tmp_path / "calls"
    script = tmp_path / "bin" / "apt-get"
    script.parent.mkdir()
    script.write_text(
        f"""#!/bin/sh
echo "$@" >> {calls}
echo "Waiting for cache lock: held by process 4242 (unattended-upgr)"
case "$*" in *install*) [ -e {tmp_path}/fail ] && exit 100; touch {tmp_path}/installed ;; esac
exit 0
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(cluster, "_is_root", lambda: True)
    monkeypatch.setattr(
        cluster, "_missing_packages", lambda _: [] if (tmp_path / "installed").exists() else ["postgresql-15-hll"]
    )
    monkeypatch.setattr(cluster, "_terminal", lambda: None)  # no terminal here: progress goes to our output
    return tmp_path


def test_apt_waits_for_a_busy_lock_and_says_so(fake_apt: Path, capfd: pytest.CaptureFixture[str]) -> None:
    cluster.ensure_postgis(Path("/usr/lib/postgresql/15/bin"))
    calls = (fake_apt / "calls").read_text().splitlines()
    assert len(calls) == 2
    for call in calls:
        assert f"-o DPkg::Lock::Timeout={cluster.APT_LOCK_WAIT_S}" in call
    assert calls[1].endswith("install -y postgresql-15-hll")
    shown = capfd.readouterr().out
    assert "waiting for it up to 10 minutes" in shown
    assert shown.count("Waiting for cache lock") == 2  # apt's own progress is shown, not swallowed


def test_a_failed_apt_says_what_to_do(fake_apt: Path) -> None:
    (fake_apt / "fail").touch()
    with pytest.raises(cluster.ClusterError, match="let it finish and run this again"):
        cluster.ensure_postgis(Path("/usr/lib/postgresql/15/bin"))
