"""`rig run` with the real gateway killed -9 (and paused) in the middle of a 100-device run.

The gateway runs on on-disk rosmar (chosen automatically for a kill), comes back on the
same ports, devices retry with Couchbase Lite's backoff and resume from their
checkpoints; afterwards every acknowledged write is on the gateway exactly once and
every device holds exactly what its user may read.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from itertools import pairwise
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


SMALL = """
description = "10 devices, one kill: the reconnect waits"
fleet = "demo"
users = 5
devices_per_user = 2
time_scale = 60.0
duration_s = 16
ramp_per_s = 100
team_size = 5

[workload]
docs_per_user = 1
"""


def test_the_fault_section_reports_reconnect_waits_on_couchbase_lites_schedule(tmp_path: Path,
                                                                               sg_binary: Path) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "rig", "run", str(scenario), "--binary", str(sg_binary), "--out", str(out),
         "--fault", "kill@5+3"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    (fault,) = json.loads((out / "summary.json").read_text())["faults"]
    reconnects = fault["reconnects"]
    assert reconnects["retries"] > 0, "no device retried through a 3 s kill"
    # Every outage starts each device's count at 1: the first wait is 2 s, then 4, 8 ... as LiteCore.
    assert reconnects["by_attempt"].get("1", 0) >= len(reconnects["devices"]) > 0, reconnects
    counts = [reconnects["by_attempt"].get(str(n), 0) for n in range(1, len(reconnects["by_attempt"]) + 1)]
    assert counts == sorted(counts, reverse=True), reconnects  # attempt n+1 only after attempt n
    # A ~3 s outage plus the gateway's start: the waits stay in the first steps (the rig before issue 13
    # carried a device's count across outages, up to 300 s).
    assert reconnects["delay_s"]["p50"] in (2.0, 4.0, 8.0) and reconnects["delay_s"]["max"] <= 32.0, reconnects
    for waits in reconnects["devices"].values():  # doubling, or 2 s again after a connect (or a new wake)
        assert waits[0] == 2.0 and all(later in (2.0, 2 * earlier) for earlier, later in pairwise(waits)), waits
    assert "WebSocket 1006" in reconnects["errors"] or f"POSIX {errno.ECONNRESET}" in reconnects["errors"], \
        reconnects
    assert "reconnect waits p50" in result.stdout and "by attempt #1:" in result.stdout
