"""`rig run teams` catches a mutant of each class only other users' writes and changing grants expose.

The first generated mutant of an operator (as in docs/benchmarks.md, "Mutants under `rig run`"), run
through a small teams run whose workload writes to other users' seeded notes (`foreign_write_share`),
seeds notes stranded in a team their two owners are not in (`stranded_seed_share`) and has the admin
update and delete guest grants mid-run (`grant_change_at`); the rendered function passes the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rig.conformance import default_spec_path
from rig.conformance.mutate import Mutant, generate, source
from rig.oracle import load

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

EXPECTED = [
    # operator (its first mutant: all of note's owner rule and channel, or of membership's grant),
    # finding kind, rule named (prefix)
    ("require.create_only", "write_accepted", "note.require_user({owner})"),
    ("delete.unchecked", "write_accepted", "note.require_user({owner})"),
    ("immutable.drop", "write_accepted", "note.immutable(owner)"),
    ("channel.drop", "miss", "note.channels via user.channels"),
    ("channel.first", "miss", "note.channels via user.channels"),
    ("grant.on_delete", "revocation_not_applied", "membership.access"),
    ("grant.create_only", "miss", "note.channels via membership.access"),
]


def _scenario(tmp_path: Path) -> Path:
    """About 15 s on an idle 2-core machine: 20 devices, larger shares of the attacks than the defaults."""
    path = tmp_path / "routing.toml"
    path.write_text('fleet = "demo"\nusers = 10\ndevices_per_user = 2\ntime_scale = 60.0\nduration_s = 8\n'
                    'ramp_per_s = 100\nteam_size = 5\n\n[workload]\ndocs_per_user = 2\nstart_awake_fraction = 1.0\n\n'
                    '[routing]\nspec = "teams"\nbad_write_share = 0.3\ndelete_share = 0.2\nsnapshot_every_s = 5\n'
                    'foreign_write_share = 0.4\nstranded_seed_share = 0.3\ngrant_change_at = 0.5\n')
    return path


def _first(operator: str) -> Mutant:
    return next(m for m in generate(load(default_spec_path())) if m.operator == operator)


def _run(tmp_path: Path, sg_binary: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "rig", "run", str(_scenario(tmp_path)), "--binary", str(sg_binary),
                             "--out", str(out), *args], capture_output=True, text=True, timeout=400)
    return result, out


def test_the_rendered_function_passes_the_same_run(tmp_path: Path, sg_binary: Path) -> None:
    result, out = _run(tmp_path, sg_binary)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    findings = json.loads((out / "oracle-findings.json").read_text())
    assert findings["by_rule"] == {}, findings["listed"][:10]
    assert "the admin changed 4 guest grants mid-run" in result.stdout
    writes = [json.loads(line) for line in (out / "observations-0.jsonl").read_text().splitlines()]
    foreign = [w for w in writes if w["kind"] == "write" and ".seed." in w["doc"] and w["writer"]]
    assert foreign and not any(w["accepted"] for w in foreign)  # attacked, and every attack refused


@pytest.mark.parametrize(("operator", "kind", "rule"), EXPECTED, ids=[op for op, *_ in EXPECTED])
def test_mutant_fails_rig_run(operator: str, kind: str, rule: str, tmp_path: Path, sg_binary: Path) -> None:
    spec = load(default_spec_path())
    mutant = _first(operator)
    js = tmp_path / f"{operator}.js"
    js.write_text(source(spec, mutant))
    result, out = _run(tmp_path, sg_binary, "--sync-function", str(js))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "THRESHOLD FAILED: oracle_findings" in result.stdout
    listed = json.loads((out / "oracle-findings.json").read_text())["listed"]
    matching = [f for f in listed if f["kind"] == kind and f["rule"].startswith(rule)]
    assert matching, f"{mutant.name}: no {kind} of {rule} in {sorted({(f['kind'], f['rule']) for f in listed})}"
