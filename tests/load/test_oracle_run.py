"""`rig run` with a routing spec: the oracle judges what every device of a real run held and wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rig._paths import project_root

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

BROKEN = project_root() / "gateway_config" / "sync" / "broken"
ZERO = ["oracle_leaks", "oracle_misses", "oracle_stale", "oracle_revocations_not_applied",
        "oracle_writes_wrongly_accepted", "oracle_writes_wrongly_rejected", "oracle_syncs_refused", "leaks", "misses"]


def _scenario(tmp_path: Path, users: int, duration: int) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text(f'fleet = "demo"\nusers = {users}\ndevices_per_user = 3\ntime_scale = 60.0\n'
                    f'duration_s = {duration}\nramp_per_s = 100\nteam_size = 5\n\n'
                    '[workload]\ndocs_per_user = 2\n\n[routing]\nspec = "teams"\nbad_write_share = 0.1\n'
                    'snapshot_every_s = 5\n')
    return path


def _run(tmp_path: Path, sg_binary: Path, scenario: Path, *args: str) -> tuple[subprocess.CompletedProcess[str],
                                                                                  dict[str, Any]]:
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "rig", "run", str(scenario), "--binary", str(sg_binary),
                             "--out", str(out), *args], capture_output=True, text=True, timeout=400)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    return result, summary


def test_correct_sync_function_two_workers_no_findings(tmp_path: Path, sg_binary: Path) -> None:
    result, summary = _run(tmp_path, sg_binary, _scenario(tmp_path, users=20, duration=15), "--workers", "2",
                           *[arg for name in ZERO for arg in ("--fail-if", f"{name}>0")])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    oracle = summary["oracle"]
    assert oracle["findings"] == 0, oracle["examples"]
    assert summary["devices"] == 60 and oracle["snapshots_final"] == 60
    # Every user's record on the gateway holds what its documents grant (rig.gateway.principals).
    principals = summary["gateway_principals"]
    assert principals["users"] == 20 and principals["documents"] > 20 and principals["drift"] == []
    assert "every record agrees" in result.stdout
    assert oracle["snapshots_mid_run"] > 0 and oracle["docs_held_mid_run"] > 0
    # Non-trivial: devices wrote, the gateway refused the deliberate bad writes (as the spec does), and
    # each device was judged against every document of the run.
    assert oracle["writes"] > 100
    assert oracle["writes_refused"] == oracle["writes_the_spec_rejects"] > 0
    assert oracle["docs_visible_final"] > 1000
    assert oracle["docs_judged_final"] > oracle["docs_visible_final"]
    run = tmp_path / "run"
    assert sorted(p.name for p in run.glob("observations-*.jsonl")) == [
        "observations-0.jsonl", "observations-1.jsonl", "observations-seed.jsonl", "observations-versions.jsonl"]
    assert summary["sync_function"].endswith("sync-rendered.js")
    # The same observations, re-checked afterwards from the run directory alone.
    again = subprocess.run([sys.executable, "-m", "rig", "check", str(run)], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "findings: none" in again.stdout


def test_public_by_mistake_sync_function_leaks_are_found(tmp_path: Path, sg_binary: Path) -> None:
    result, summary = _run(tmp_path, sg_binary, _scenario(tmp_path, users=15, duration=10),
                           "--sync-function", str(BROKEN / "public_by_mistake.js"), "--fail-if", "oracle_leaks>0")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "THRESHOLD FAILED: oracle_leaks" in result.stdout
    oracle = summary["oracle"]
    assert oracle["counts"]["leak"] > 100
    assert summary["figures"]["leaks"] == 0  # the gateway's own view cannot see it: it is the policy that is wrong
    listed = json.loads((tmp_path / "run" / "oracle-findings.json").read_text())["listed"]
    leaks = [f for f in listed if f["kind"] == "leak"]
    assert leaks and all(f["rule"] == "note.channels" and f["doc"].startswith("note.") for f in leaks)
    assert all(f["user"] and f["device"].startswith(f["user"] + "/") and f["rev"] for f in leaks)
    # Checked against a policy where notes are public, the same observations hold no leak.
    public = tmp_path / "public.toml"
    public.write_text((project_root() / "gateway_config" / "routing" / "teams.toml").read_text().replace(
        'channels = ["user.{owner}", "team.{team}"]', 'channels = ["user.{owner}", "team.{team}", "!"]'))
    again = subprocess.run([sys.executable, "-m", "rig", "check", str(tmp_path / "run"), "--routing", str(public)],
                           capture_output=True, text=True, timeout=120)
    assert "leak" not in again.stdout.split("findings:", 1)[1].split("\n", 1)[0], again.stdout
