"""The mutation report: equivalent mutants are excluded from the kill rate; every survivor is listed with a reason."""

from __future__ import annotations

from rig.conformance.mutate import Mutant
from rig.conformance.mutation_report import MutantResult, MutationReport, report_text, survivor_reason


def _report() -> MutationReport:
    drop = Mutant("require.drop", "note.require_user({owner})", "note", "require_user({owner})", 0)
    old = Mutant("require.old", "note.require_user({owner})", "note", "require_user({owner})", 0)
    moved = Mutant("channel.old", "note.channels", "note", "team.{team}", 1)
    unknown = Mutant("type.unknown", "type")
    report = MutationReport("teams", cases=["a", "b"], seconds=12.0, writes=1000)
    report.results = [
        MutantResult(drop, "killed", "attack_note_writes", "write_accepted: n@1 rule=note.require_user({owner})", 1),
        MutantResult(old, "equivalent", reason="same outcome on all 1000 random writes"),
        MutantResult(moved, "survived", cases_run=2, reason=survivor_reason(moved, 2)),
        MutantResult(unknown, "killed", "write_checks", "write_accepted", 3),
    ]
    return report


def test_kill_rate_excludes_equivalent_mutants() -> None:
    report = _report()
    assert report.judged == 3
    assert round(report.kill_rate, 1) == 66.7
    data = report.to_json()
    assert (data["generated"], data["equivalent"], data["killed"], data["survived"]) == (4, 1, 2, 1)


def test_text_lists_each_survivor_with_its_rule_and_reason() -> None:
    text = report_text(_report())
    assert text.splitlines()[0].startswith("mutants of teams: 4 generated, 1 equivalent (excluded), 3 judged: "
                                           "2 killed, 1 survived; kill rate 66.7 %")
    survived = [line for line in text.splitlines() if "SURVIVED" in line]
    assert survived == ["  SURVIVED   channel.old note.channels[team.{team}]: an update stays in the old revision's "
                        "channel; none of 2 case(s) did: update the field; sync readers of the old and the new channel"]
    assert "EQUIVALENT require.old note.require_user({owner})" in text
    assert "killed" not in text.split("\n", 1)[1]
    assert "by attack_note_writes" in report_text(_report(), verbose=True)


def test_baseline_failures_are_shown() -> None:
    report = _report()
    report.baseline_failures = {"roles": "leak: ..."}
    assert "1 case(s) fail with the unmutated function and were left out" in report_text(report)
