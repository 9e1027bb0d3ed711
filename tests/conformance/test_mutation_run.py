"""`rig conform --mutants` end to end on a small subset, and one mutant of each operator class caught by its case.

The subset holds one mutant of each fate: an equivalent one (excluded, not a
survivor), one the cases kill, and one a deliberately weak case set lets
survive (the report must list it with its rule and a reason, and exit 1).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rig.conformance import CaseError, Harness
from rig.conformance.attacks import attack_cases
from rig.conformance.mutate import generate, source
from rig.oracle import Kind, RoutingSpec
from rig.oracle.report import findings_text

pytestmark = pytest.mark.gateway


def test_mutants_subset_reports_killed_equivalent_and_survivor(sg_binary: Path, tmp_path: Path) -> None:
    out = tmp_path / "mutants"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(Path.cwd()), os.environ.get("PYTHONPATH"))
                                                        if p)}
    done = subprocess.run(
        [sys.executable, "-m", "rig", "conform", "--mutants", "--gateway-binary", str(sg_binary), "--workers", "1",
         "--mutants-operator", "require.old,channel.drop", "--mutants-limit", "3",
         "--mutants-cases", "attack_note_writes,roles", "--out", str(out), "--json"],
        capture_output=True, text=True, timeout=900, env=env, check=False)
    assert done.returncode == 1, done.stdout + done.stderr  # 1 of 2 judged mutants killed: below 95 %
    report = json.loads(done.stdout)
    status = {m["name"]: m for m in report["mutants"]}
    assert status["require.old note.require_user({owner})"]["status"] == "equivalent"
    killed = status["require.old note.require_access(team.{team})"]
    assert killed["status"] == "killed" and killed["case"] == "attack_note_writes"
    assert "write_accepted" in killed["finding"] and "note.require_access(team.{team})" in killed["finding"]
    survivor = status["channel.drop note.channels[user.{owner}]"]
    assert survivor["status"] == "survived" and survivor["cases_run"] == 2
    assert "sync a reader holding only that channel" in survivor["reason"]
    assert (report["generated"], report["equivalent"], report["killed"], report["survived"]) == (3, 1, 1, 1)
    assert report["kill_rate"] == 50.0
    assert (out / "mutants.json").is_file() and (out / "functions" / "m000.js").is_file()


# One new broken function per operator class, each caught by the generated case aimed at it.
CLASSES = [
    # operator, the mutant's rule, case, finding kind, rule the finding names
    ("require.create_only", "note.require_access(team.{team})", "attack_note_writes", Kind.WRITE_ACCEPTED,
     "note.require_access(team.{team})"),
    ("delete.unchecked", "membership.delete", "attack_membership_writes", Kind.WRITE_ACCEPTED,
     "membership.require_role(lead)"),
    ("immutable.drop", "membership.immutable(member)", "attack_membership_writes", Kind.WRITE_ACCEPTED,
     "membership.immutable(member)"),
    ("channel.first", "tagged.channels", "attack_tagged_routing", Kind.ROUTING, "tagged.channels"),
    ("grant.widen", "promotion.roles", "attack_promotion_routing", Kind.LEAK, "promotion.channels"),
    ("type.change", "type", "attack_note_writes", Kind.WRITE_ACCEPTED, "type"),
    ("resurrect.refused", "resurrect", "attack_note_writes", Kind.WRITE_REJECTED, "note."),
]


@pytest.mark.parametrize(("operator", "mutant_rule", "case", "kind", "rule"), CLASSES, ids=[c[0] for c in CLASSES])
def test_each_operator_class_is_caught_with_the_right_finding(
        operator: str, mutant_rule: str, case: str, kind: Kind, rule: str, routing_spec: RoutingSpec,
        make_harness: Callable[..., Harness], tmp_path: Path) -> None:
    mutant = next(m for m in generate(routing_spec) if m.operator == operator and m.rule == mutant_rule)
    function = tmp_path / "mutant.js"
    function.write_text(source(routing_spec, mutant))
    harness = make_harness(sync=function, against_spec=True)
    with contextlib.suppress(CaseError):  # a mutant may break the case's own flow; the findings still tell
        attack_cases(routing_spec)[case](harness)
    findings = harness.findings()
    assert any(f.kind is kind and f.rule.startswith(rule) for f in findings), \
        f"{mutant.name} not caught as {kind.value} of {rule}:\n{findings_text(findings)}"
