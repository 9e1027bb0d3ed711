"""A routing run with a mixed fleet (Couchbase Lite 3.3, 3.4 and 4.1 devices): the oracle judges 4.1
devices by the versions they hold (paired with rev-tree IDs by the gateway after the final sync).

The rendered function gives no finding (before the pairs, every document a 4.1 device held was a
`stale` finding); a broken function still fails the run, with findings on 4.1 devices' versions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rig._paths import project_root

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

BROKEN = project_root() / "gateway_config" / "sync" / "broken"


def mixed_teams_scenario(tmp_path: Path) -> Path:
    """About 20 s on an idle 2-core machine: 20 devices of the mixed fleet (10 of them 4.1)."""
    path = tmp_path / "mixed-routing.toml"
    path.write_text('fleet = "mixed"\nusers = 10\ndevices_per_user = 2\ntime_scale = 60.0\nduration_s = 8\n'
                    'ramp_per_s = 100\nteam_size = 5\n\n[workload]\ndocs_per_user = 2\nstart_awake_fraction = 1.0\n\n'
                    '[routing]\nspec = "teams"\nbad_write_share = 0.3\ndelete_share = 0.2\nsnapshot_every_s = 5\n')
    return path


def _run(tmp_path: Path, sg_binary: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "rig", "run", str(mixed_teams_scenario(tmp_path)),
                             "--binary", str(sg_binary), "--out", str(out), *extra],
                            capture_output=True, text=True, timeout=400)
    return result, out


def test_mixed_fleet_with_the_rendered_function_has_no_finding(tmp_path: Path, sg_binary: Path) -> None:
    result, out = _run(tmp_path, sg_binary)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert {"3.3", "4.1"} <= {cbl for cbl, row in summary["by_release"].items() if row["devices"] > 0}
    oracle = summary["oracle"]
    assert oracle["findings"] == 0, oracle["examples"]
    assert oracle["snapshots_final"] == 20 and oracle["docs_visible_final"] > 100
    # The 4.1 devices' stores were judged by version: their final snapshots hold versions.
    snapshots = [json.loads(line) for path in out.glob("observations-[0-9]*.jsonl")
                 for line in path.read_text().splitlines()]
    held = [d["rev"] for s in snapshots if s["kind"] == "sync" and s.get("scope", "all") == "all"
            for d in s["docs"].values()]
    assert any("@" in rev for rev in held) and any("@" not in rev for rev in held)
    names = (out / "observations-versions.jsonl").read_text()
    assert '"kind":"versions"' in names
    # `rig check` replays the same files to the same verdict.
    check = subprocess.run([sys.executable, "-m", "rig", "check", str(out)], capture_output=True, text=True,
                           timeout=120)
    assert check.returncode == 0, check.stdout[-2000:]


def test_mixed_fleet_with_a_broken_function_fails(tmp_path: Path, sg_binary: Path) -> None:
    result, out = _run(tmp_path, sg_binary, "--sync-function", str(BROKEN / "wrong_channel.js"))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "THRESHOLD FAILED: oracle_findings" in result.stdout
    listed = json.loads((out / "oracle-findings.json").read_text())["listed"]
    leaks = [f for f in listed if f["kind"] == "leak" and f["rule"].startswith("note.channels")]
    assert leaks, sorted({(f["kind"], f["rule"]) for f in listed})
    assert any("@" in f["rev"] for f in leaks), "no leak found on a 4.1 device's version"
    assert any("@" not in f["rev"] for f in leaks), "no leak found on a rev-tree device"
    assert not [f for f in listed if f["kind"] == "stale"], [f for f in listed if f["kind"] == "stale"][:5]
