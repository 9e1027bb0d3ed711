"""`rig run` of a mixed-release fleet against the real Sync Gateway: the summary (summary.json, the
printed text, report.html) breaks devices, wakes, latencies and documents down by release, and the
run checks find nothing stale or lost where versions and rev-tree IDs name the same revisions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

SCENARIO = '''description = "30 devices of 10 users, the mixed fleet's releases (4.1, 3.4, 3.3)"
fleet = "mixed"
users = 10
devices_per_user = 3
time_scale = 60.0
duration_s = 15
ramp_per_s = 100
team_size = 5

[workload]
docs_per_user = 2
'''


def test_a_mixed_fleet_run_reports_every_release(tmp_path: Path, sg_binary: Path) -> None:
    scenario = tmp_path / "mixed-small.toml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "rig", "run", str(scenario), "--binary", str(sg_binary),
                             "--duration", "12", "--out", str(out)],
                            capture_output=True, text=True, timeout=400, env=dict(os.environ))
    assert (out / "summary.json").is_file(), result.stdout[-2000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    rows = summary["by_release"]
    assert list(rows) == ["3.3", "3.4", "4.1"], rows
    assert sum(row["devices"] for row in rows.values()) == summary["devices"] == 30
    assert all(row["devices"] > 0 and row["docs_pulled"] > 0 for row in rows.values()), rows
    assert sum(row["wakes"] for row in rows.values()) == summary["figures"]["wakes"]
    arrivals = sum(row["arrivals"] for row in rows.values())
    assert arrivals == sum(row["arrivals"] for row in summary["measurements"]["arrivals_by_phase"].values())
    assert rows["4.1"]["write_to_arrival_s_real"]["p50"] is not None, rows
    # The devices' documents per release add up to what they counted in the load phase.
    agreement = summary["throughput_agreement"]
    assert abs(sum(row["docs_pulled"] for row in rows.values()) - agreement["rig_pulled"]) <= 2, (rows, agreement)
    assert abs(sum(row["docs_pushed"] for row in rows.values()) - agreement["rig_pushed"]) <= 2, (rows, agreement)
    printed = [line for line in result.stdout.splitlines() if line.strip().startswith("cbl ")]
    assert [line.split()[1] for line in printed] == ["3.3", "3.4", "4.1"], result.stdout[-3000:]
    # The run checks compare each release's revisions in its own terms: no false stale copies or lost writes.
    figures = summary["figures"]
    assert {k: figures[k] for k in ("leaks", "misses", "stale", "lost_writes", "duplicated_writes")} == \
        dict.fromkeys(("leaks", "misses", "stale", "lost_writes", "duplicated_writes"), 0.0), \
        (summary["durability"], result.stdout[-3000:])
    assert summary["durability"]["checked"] > 0
    report = (out / "report.html").read_text()
    assert "By client release" in report and "Couchbase Lite 4.1" in report
    print("\n".join(line for line in result.stdout.splitlines() if "cbl" in line or "by client" in line))
