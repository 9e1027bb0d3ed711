"""The throughput cross-check across a gateway kill: Sync Gateway's counters start again from zero
with the process, and the rig's figures count their growth across the restart (issue 15)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gateway, pytest.mark.slow]


def test_smoke_with_a_kill_agrees_with_the_gateway_within_two_percent(tmp_path: Path, sg_binary: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "rig", "run", "smoke", "--binary", str(sg_binary), "--out", str(out),
         "--fault", "kill@5+3", "--fail-if", "lost_writes>0"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["faults"][0]["fault"] == "kill@5+3" and summary["faults"][0]["error"] is None
    samples = json.loads((out / "worker-0.json").read_text())["samples"]
    pulled = [s["gateway_pulled"] for s in samples if "gateway_pulled" in s]
    assert any(b < a for a, b in itertools.pairwise(pulled)), "the counters never restarted"
    agreement = summary["throughput_agreement"]
    assert agreement["rig_pulled"] > 0 and agreement["rig_pushed"] > 0, agreement
    assert abs(agreement["pull_difference_pct"]) <= 2.0, agreement
    assert abs(agreement["push_difference_pct"]) <= 2.0, agreement
    counters = summary["gateway_counters"]
    assert all(value >= 0 for value in counters.values()), counters
    assert counters["sgw_replication_pull_rev_send_count"] >= agreement["gateway_revs_sent"]
