"""`rig run` with the real gateway killed -9 (and paused) in the middle of a 100-device run.

The gateway runs on on-disk rosmar (chosen automatically for a kill), comes back on the
same ports, devices retry with Couchbase Lite's backoff and resume from their
checkpoints; afterwards every acknowledged write is on the gateway exactly once and
every device holds exactly what its user may read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

SCENARIO = """
description = "100 devices of 50 users for a fault test"
fleet = "demo"
users = 50
devices_per_user = 2
time_scale = 60.0
duration_s = 30
ramp_per_s = 200
team_size = 5

[workload]
docs_per_user = 2
"""


def test_kill_and_pause_mid_run_lose_nothing_duplicate_nothing_leak_nothing(tmp_path: Path, sg_binary: Path) -> None:
    scenario = tmp_path / "faulty.toml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "rig", "run", str(scenario), "--binary", str(sg_binary), "--out", str(out),
         "--fault", "kill@8+3", "--fault", "pause@20+3",
         "--fail-if", "lost_writes>0", "--fail-if", "duplicated_writes>0", "--fail-if", "leaks>0",
         "--fail-if", "misses>0"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["devices"] == 100

    faults = summary["faults"]
    assert [f["fault"] for f in faults] == ["kill@8+3", "pause@20+3"]
    assert all(f["error"] is None and f["seconds"] is not None for f in faults), faults
    assert faults[0]["seconds"] >= 3.0  # dead for 3 s, then a start until every database is online
    assert any(out.joinpath("gateway-data").rglob("*.sqlite3*")), "the kill needs rosmar on disk"
    assert "fault: kill@8+3: gateway back after" in result.stdout

    figures = summary["figures"]
    assert figures["outages"] == 2
    assert figures["retries"] > 0, "no device retried: the outage went unnoticed"
    assert sum(f["wakes_touched"] for f in faults) > 0
    durability = summary["durability"]
    assert durability["checked"] > 20, "too few acknowledged writes to mean anything"
    assert durability["lost"] == 0 and durability["duplicated"] == 0, durability
    assert figures["leaks"] == figures["misses"] == figures["stale"] == 0
    assert summary["final_sync_failures"] == []

    # The report marks the outage windows on the time plots and says what they cost.
    report = (out / "report.html").read_text()
    assert "Gateway faults and acknowledged writes" in report
    assert report.count("kill@8+3") >= 3 and report.count("pause@20+3") >= 3  # table row + two time plots' marks
    assert f"Acknowledged writes: {durability['checked']} looked up on the gateway" in report
    assert "lost 0, duplicated 0" in report
