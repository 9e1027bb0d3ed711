"""`rig gateway fault` on command, against the gateway `rig gateway up` started (local process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from rig.gateway.local import free_port

pytestmark = pytest.mark.gateway


def _rig(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rig", *args], capture_output=True, text=True, env=env, timeout=120)


def test_kill_pause_and_restart_on_command_keep_on_disk_data_and_ports(sg_binary: Path, tmp_path: Path) -> None:
    env = dict(os.environ, RIG_RUNS_DIR=str(tmp_path))
    ports = [str(free_port()) for _ in range(3)]
    admin = f"http://127.0.0.1:{ports[1]}"
    assert _rig("gateway", "fault", "kill", env=env).returncode == 2  # nothing is up: a clear error
    up = _rig("gateway", "up", "--binary", str(sg_binary), "--database", "demo", "--data-dir", str(tmp_path / "data"),
              "--public-port", ports[0], "--admin-port", ports[1], "--metrics-port", ports[2], env=env)
    assert up.returncode == 0, up.stderr
    state_path = tmp_path / "gateway" / "state.json"
    first_pid = json.loads(state_path.read_text())["pid"]
    try:
        httpx.put(f"{admin}/demo/kept", json={"channels": ["x"], "v": 1}, timeout=10).raise_for_status()

        kill = _rig("gateway", "fault", "kill", "--seconds", "1", env=env)
        assert kill.returncode == 0, kill.stdout + kill.stderr
        assert "kill: gateway answering again after" in kill.stdout
        new_pid = json.loads(state_path.read_text())["pid"]
        assert new_pid != first_pid
        with pytest.raises(ProcessLookupError):
            os.kill(first_pid, 0)
        assert httpx.get(f"{admin}/demo/kept", timeout=10).json()["v"] == 1  # rosmar on disk survived

        # While paused nothing answers; afterwards it does again.
        silent: list[bool] = []

        def probe() -> None:
            time.sleep(0.8)
            try:
                httpx.get(f"{admin}/_ping", timeout=0.5)
                silent.append(False)
            except httpx.TimeoutException:
                silent.append(True)

        prober = threading.Thread(target=probe)
        prober.start()
        pause = _rig("gateway", "fault", "pause", "--seconds", "2", env=env)
        prober.join()
        assert pause.returncode == 0, pause.stdout + pause.stderr
        assert silent == [True], "the paused gateway still answered"
        assert float(pause.stdout.split("after ")[1].split(" s")[0]) >= 2.0

        restart = _rig("gateway", "fault", "restart", env=env)
        assert restart.returncode == 0, restart.stdout + restart.stderr
        assert httpx.get(f"{admin}/demo/kept", timeout=10).json()["v"] == 1
        assert _rig("gateway", "status", env=env).returncode == 0
    finally:
        down = _rig("gateway", "down", env=env)
    assert down.returncode == 0, down.stderr


def test_faults_on_command_against_the_container_rig_gateway_up_started(sg_image: str, tmp_path: Path) -> None:
    env = dict(os.environ, RIG_RUNS_DIR=str(tmp_path))
    ports = [str(free_port()) for _ in range(3)]
    up = _rig("gateway", "up", "--backend", "docker", "--image", sg_image, "--database", "demo",
              "--public-port", ports[0], "--admin-port", ports[1], "--metrics-port", ports[2], env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        for kind, seconds in (("pause", "1"), ("kill", "1"), ("restart", "0"), ("netdown", "2")):
            result = _rig("gateway", "fault", kind, "--seconds", seconds, "--backend", "docker", env=env)
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"{kind}: gateway answering again after" in result.stdout
            assert float(result.stdout.split("after ")[1].split(" s")[0]) >= float(seconds)
            assert httpx.get(f"http://127.0.0.1:{ports[1]}/demo/", timeout=5).json()["state"] == "Online"
    finally:
        down = _rig("gateway", "down", "--backend", "docker", env=env)
    assert down.returncode == 0, down.stdout + down.stderr


def test_netdown_on_command_needs_the_docker_backend(tmp_path: Path) -> None:
    result = _rig("gateway", "fault", "netdown", env=dict(os.environ, RIG_RUNS_DIR=str(tmp_path)))
    assert result.returncode != 0
    assert "netdown needs --backend docker" in result.stdout + result.stderr
