"""`rig run --driver loop` (the default) end to end against the real Sync Gateway: every replication of a
load process on one event loop (rig.device.loop, one greenlet under gevent) must keep what the gevent
driver keeps; the smoke run also on `--driver gevent`, which stays selectable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.gateway, pytest.mark.slow]


def _run(tmp_path: Path, sg_binary: Path, scenario: str, *args: str,
         driver: str = "loop") -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "rig", "run", scenario, "--binary", str(sg_binary),
                             "--out", str(out), "--driver", driver, *args],
                            capture_output=True, text=True, timeout=600, env=dict(os.environ))
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    return result, summary


@pytest.mark.parametrize("driver", ["loop", "gevent"])
def test_smoke_on_each_driver_loses_nothing_and_agrees_with_the_gateway(tmp_path: Path, sg_binary: Path,
                                                                        driver: str) -> None:
    result, summary = _run(tmp_path, sg_binary, "smoke", "--duration", "12", "--fail-if", "leaks>0",
                           "--fail-if", "misses>0", "--fail-if", "lost_writes>0", driver=driver)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert summary["driver"] == driver and summary["devices"] == 30
    worker = json.loads((tmp_path / "run" / "worker-0.json").read_text())
    assert worker["driver"] == driver and worker["loop_errors"] == []
    figures = summary["figures"]
    assert figures["wakes"] > 0 and figures["pull_docs_per_s"] > 0 and figures["stale"] == 0
    assert figures["errors"] == 0 and figures["lost_writes"] == 0 and figures["duplicated_writes"] == 0
    agreement = summary["throughput_agreement"]
    assert agreement["rig_pulled"] > 0 and abs(agreement["pull_difference_pct"]) <= 2.0, agreement
    assert abs(agreement["rig_pushed"] - agreement["gateway_docs_pushed"]) <= 1, agreement
    assert summary["durability"]["checked"] > 0  # acknowledged writes were looked for on the gateway


def test_teams_routing_on_the_loop_has_no_findings(tmp_path: Path, sg_binary: Path) -> None:
    scenario = tmp_path / "routing.toml"
    scenario.write_text('fleet = "demo"\nusers = 10\ndevices_per_user = 3\ntime_scale = 60.0\nduration_s = 15\n'
                        'ramp_per_s = 100\nteam_size = 5\ndriver = "loop"\n\n[workload]\ndocs_per_user = 2\n\n'
                        '[routing]\nspec = "teams"\nbad_write_share = 0.1\nsnapshot_every_s = 5\n')
    result, summary = _run(tmp_path, sg_binary, str(scenario), "--workers", "2")  # a loop in each worker
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    oracle = summary["oracle"]
    assert summary["driver"] == "loop" and summary["processes"] == 2
    for index in range(2):
        worker = json.loads((tmp_path / "run" / f"worker-{index}.json").read_text())
        assert worker["driver"] == "loop" and worker["devices"] > 0 and worker["loop_errors"] == []
    assert oracle["findings"] == 0, oracle["examples"]
    assert oracle["writes"] > 20 and oracle["writes_refused"] == oracle["writes_the_spec_rejects"] > 0
    assert oracle["snapshots_final"] == 30


def test_a_gateway_kill_on_the_loop_loses_nothing_and_devices_retry_on_schedule(tmp_path: Path,
                                                                                  sg_binary: Path) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text('fleet = "demo"\nusers = 8\ndevices_per_user = 2\ntime_scale = 60.0\nduration_s = 16\n'
                        'ramp_per_s = 100\nteam_size = 4\n\n[workload]\ndocs_per_user = 1\n')
    result, summary = _run(tmp_path, sg_binary, str(scenario), "--fault", "kill@5+3")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert summary["figures"]["lost_writes"] == 0 and summary["figures"]["duplicated_writes"] == 0
    assert summary["figures"]["leaks"] == 0 and summary["figures"]["misses"] == 0
    (fault,) = summary["faults"]
    reconnects = fault["reconnects"]
    assert reconnects["retries"] > 0, "no device retried through a 3 s kill"
    for waits in reconnects["devices"].values():  # 2 s first, then doubling (or 2 s again after a connect)
        assert waits[0] == 2.0, waits
