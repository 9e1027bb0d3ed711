"""`rig run` with a routing spec is a release gate: any oracle finding fails it unless --fail-if relaxes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rig._paths import project_root
from rig.oracle.run_check import DEFAULT_GATE

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

ODD = "// a `back-quoted` word, ${HOME}, $1 and ünïcode ☃: handed to the gateway intact\n"


def test_a_broken_sync_function_fails_the_run_without_any_fail_if(tmp_path: Path, sg_binary: Path) -> None:
    scenario = tmp_path / "routing.toml"
    scenario.write_text('fleet = "demo"\nusers = 10\ndevices_per_user = 2\ntime_scale = 60.0\nduration_s = 8\n'
                        'ramp_per_s = 100\nteam_size = 5\n\n[workload]\ndocs_per_user = 2\n\n'
                        '[routing]\nspec = "teams"\nbad_write_share = 0.1\nsnapshot_every_s = 5\n')
    broken = tmp_path / "public_by_mistake.js"
    shipped = project_root() / "gateway_config" / "sync" / "broken" / "public_by_mistake.js"
    broken.write_text(ODD + shipped.read_text())
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "rig", "run", str(scenario), "--binary", str(sg_binary),
                             "--out", str(out), "--sync-function", str(broken), "--fail-if", "errors>100000"],
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "THRESHOLD FAILED: oracle_findings" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["thresholds"]["applied"] == ["errors>100000", DEFAULT_GATE]
    assert summary["oracle"]["counts"]["leak"] > 0
    assert summary["sync_function"] == str(broken)
