"""`rig gateway up | status | logs | down` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rig.gateway.local import free_port

pytestmark = pytest.mark.gateway


def _rig(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rig", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_up_status_logs_down(sg_binary: Path, tmp_path: Path) -> None:
    env = dict(os.environ, RIG_RUNS_DIR=str(tmp_path))
    ports = [str(free_port()) for _ in range(3)]
    up = _rig("gateway", "up", "--binary", str(sg_binary), "--database", "demo",
              "--public-port", ports[0], "--admin-port", ports[1], "--metrics-port", ports[2], env=env)
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / "gateway" / "state.json").read_text())
    try:
        assert f"127.0.0.1:{ports[0]}" in up.stdout
        assert httpx.get(f"http://127.0.0.1:{ports[1]}/demo/").json()["state"] == "Online"

        again = _rig("gateway", "up", "--binary", str(sg_binary), env=env)
        assert again.returncode == 2
        assert "already up" in again.stderr

        status = _rig("gateway", "status", env=env)
        assert status.returncode == 0
        assert "Couchbase Sync Gateway" in status.stdout

        logs = _rig("gateway", "logs", "-n", "5", env=env)
        assert logs.returncode == 0
        assert len(logs.stdout.strip().splitlines()) == 5
    finally:
        down = _rig("gateway", "down", env=env)
    assert down.returncode == 0, down.stderr
    with pytest.raises(ProcessLookupError):
        os.kill(int(state["pid"]), 0)
    assert _rig("gateway", "status", env=env).returncode == 2


def test_unknown_version_is_a_clear_error(tmp_path: Path) -> None:
    result = _rig("gateway", "up", "--binary", str(tmp_path / "missing"),
                  env=dict(os.environ, RIG_RUNS_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert "no such file" in result.stderr
