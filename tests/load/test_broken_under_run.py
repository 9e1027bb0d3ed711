"""`rig run teams` catches each shipped broken sync function, with the finding `rig conform` names for it.

A small teams run (10 users, 8 s) with a larger share of deliberate bad writes, so a function that
forgot a write check accepts some of them; tests/conformance/test_broken.py holds the same
functions to the same findings under `rig conform`.
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

EXPECTED = [
    # broken function, finding kind, rule named (prefix)
    ("forgot_require_access", "write_accepted", "note.require_access(team.{team})"),
    ("wrong_channel", "leak", "note.channels"),
    ("missing_grant", "miss", "note.channels via membership.access"),
    ("public_by_mistake", "leak", "note.channels"),
]


def small_teams_scenario(tmp_path: Path) -> Path:
    """About 15 s on an idle 2-core machine: 20 devices, every fifth device write a deliberate refusal."""
    path = tmp_path / "routing.toml"
    path.write_text('fleet = "demo"\nusers = 10\ndevices_per_user = 2\ntime_scale = 60.0\nduration_s = 8\n'
                    'ramp_per_s = 100\nteam_size = 5\n\n[workload]\ndocs_per_user = 2\nstart_awake_fraction = 1.0\n\n'
                    '[routing]\nspec = "teams"\nbad_write_share = 0.3\ndelete_share = 0.2\nsnapshot_every_s = 5\n')
    return path


def test_every_shipped_broken_function_is_exercised() -> None:
    assert {p.stem for p in BROKEN.glob("*.js")} == {name for name, *_ in EXPECTED}


@pytest.mark.parametrize(("broken", "kind", "rule"), EXPECTED, ids=[b for b, *_ in EXPECTED])
def test_broken_sync_function_fails_rig_run(broken: str, kind: str, rule: str, tmp_path: Path,
                                            sg_binary: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "rig", "run", str(small_teams_scenario(tmp_path)),
                             "--binary", str(sg_binary), "--out", str(out),
                             "--sync-function", str(BROKEN / f"{broken}.js")],
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "THRESHOLD FAILED: oracle_findings" in result.stdout
    listed = json.loads((out / "oracle-findings.json").read_text())["listed"]
    matching = [f for f in listed if f["kind"] == kind and f["rule"].startswith(rule)]
    assert matching, f"{broken}: no {kind} of {rule} in {sorted({(f['kind'], f['rule']) for f in listed})}"
    assert all(f["doc"] and f["user"] for f in matching)
