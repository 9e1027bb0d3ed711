"""`rig conform`'s results: one row per pytest item, counts cross-checked with pytest's own, no false PASS.

The JUnit XML and pytest.log here have the shape pytest 8 writes (checked against real runs by
tests/conformance/test_verdicts.py); the point is what the reader does with them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.conformance.runner import item_key, pytest_counts, read_results, write_case_result
from rig.oracle import Finding, Kind
from rig.oracle.report import run_text, side_by_side

LEAK = Finding(Kind.LEAK, "n1", "1-a", "bob", "bob-1", "note.channels", "x")
MODULE = "tests.conformance.test_cases"
SPEC_ITEM = "tests/conformance/test_cases.py::test_case[revocation_while_asleep]"
VIEW_ITEM = "tests/conformance/test_cases.py::test_case_against_the_gateway_view[revocation_while_asleep]"


def _junit(path: Path, rows: list[tuple[str, str]], *, totals: dict[str, int] | None = None) -> Path:
    """rows: (name, outcome) -> a pytest-style JUnit file (its totals from the rows unless given)."""
    counted = {"failures": sum(o == "failed" for _, o in rows), "errors": sum(o == "error" for _, o in rows),
               "skipped": sum(o == "skipped" for _, o in rows), "tests": len(rows), **(totals or {})}
    body = []
    for name, outcome in rows:
        inner = {"failed": '<failure message="AssertionError: 1 findings">trace</failure>',
                 "error": '<error message="failed on setup with &quot;boom&quot;">trace</error>',
                 "skipped": '<skipped message="no gateway" />', "passed": ""}[outcome]
        body.append(f'<testcase classname="{MODULE}" name="{name}" time="1.5">{inner}</testcase>')
    path.write_text('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="conformance" '
                    + " ".join(f'{k}="{v}"' for k, v in counted.items()) + ">" + "".join(body)
                    + "</testsuite></testsuites>")
    return path


def _log(path: Path, line: str) -> Path:
    path.write_text(f"....F.\n=========== short test summary info ===========\nFAILED x\n{line}\n")
    return path


def test_variants_of_one_case_are_two_rows_and_a_failing_one_is_never_hidden(tmp_path: Path) -> None:
    """The bug: keyed by case name, the passing gateway-view row overwrote the failing spec-checked one."""
    results = tmp_path / "findings"
    write_case_result(results, SPEC_ITEM, [LEAK], 2.0)
    write_case_result(results, VIEW_ITEM, [], 2.0)
    for order in ([("test_case[revocation_while_asleep]", "failed"),
                   ("test_case_against_the_gateway_view[revocation_while_asleep]", "passed")],
                  [("test_case_against_the_gateway_view[revocation_while_asleep]", "passed"),
                   ("test_case[revocation_while_asleep]", "failed")]):
        junit = _junit(tmp_path / "junit.xml", order)
        log = _log(tmp_path / "pytest.log", "1 failed, 1 passed in 5.01s")
        run = read_results("main", junit, results, 5.0, log=log, exit_code=1)
        assert set(run.cases) == {"test_case[revocation_while_asleep]",
                                  "test_case_against_the_gateway_view[revocation_while_asleep]"}
        assert run.cases["test_case[revocation_while_asleep]"].outcome == "failed"
        assert run.cases["test_case[revocation_while_asleep]"].findings == (LEAK,)
        assert run.problems == [] and not run.passed
        text = run_text(run)
        assert "FAILED  test_case[revocation_while_asleep]" in text and "1 passed, 1 failed" in text
        assert "VERDICT main: FAIL" in text


def test_a_failing_gateway_view_variant_fails_the_run(tmp_path: Path) -> None:
    results = tmp_path / "findings"
    write_case_result(results, SPEC_ITEM, [], 2.0)
    write_case_result(results, VIEW_ITEM, [LEAK], 2.0)
    junit = _junit(tmp_path / "junit.xml", [("test_case[revocation_while_asleep]", "passed"),
                                           ("test_case_against_the_gateway_view[revocation_while_asleep]", "failed")])
    run = read_results("main", junit, results, 5.0, log=_log(tmp_path / "pytest.log", "1 failed, 1 passed in 5s"),
                       exit_code=1)
    assert run.cases["test_case_against_the_gateway_view[revocation_while_asleep]"].findings == (LEAK,)
    assert not run.passed and run.problems == []
    table = side_by_side([run, run])
    assert "test_case_against_the_gateway_view[revocation_while_asleep]  FAILED (1f)" in table


@pytest.mark.parametrize(("line", "totals", "problem"), [
    ("2 passed in 5s", None, "pytest says '2 passed in 5s'"),  # pytest saw no failure: a row was misread
    ("1 failed, 1 passed in 5s", {"failures": 0}, "JUnit totals say 0 failures"),
])
def test_counts_that_disagree_fail_loudly(tmp_path: Path, line: str, totals: dict[str, int] | None,
                                          problem: str) -> None:
    junit = _junit(tmp_path / "junit.xml", [("test_case[a]", "failed"), ("test_case[b]", "passed")], totals=totals)
    run = read_results("main", junit, tmp_path / "none", 1.0, log=_log(tmp_path / "pytest.log", line), exit_code=1)
    assert any(problem in p for p in run.problems), run.problems
    assert not run.passed and "PROBLEM counts disagree" in run_text(run)


def test_a_finding_in_a_passed_item_fails_the_run(tmp_path: Path) -> None:
    write_case_result(tmp_path / "findings", SPEC_ITEM, [LEAK], 1.0)
    junit = _junit(tmp_path / "junit.xml", [("test_case[revocation_while_asleep]", "passed")])
    run = read_results("main", junit, tmp_path / "findings", 1.0, log=_log(tmp_path / "pytest.log", "1 passed in 1s"),
                       exit_code=0)
    assert run.failures() == ["1 findings"]
    assert "(findings, yet pytest passed it)" in run_text(run)


def test_no_tests_collected_and_a_nonzero_exit_fail(tmp_path: Path) -> None:
    run = read_results("main", tmp_path / "absent.xml", tmp_path, 1.0, log=_log(tmp_path / "pytest.log",
                                                                                 "no tests ran in 0.01s"), exit_code=5)
    assert "pytest exited with 5 (no tests collected)" in run.failures() and "no results" in run.failures()
    junit = _junit(tmp_path / "junit.xml", [("test_case[a]", "passed")])
    run = read_results("main", junit, tmp_path, 1.0, log=_log(tmp_path / "pytest.log", "1 passed in 1s"), exit_code=3)
    assert run.failures() == ["pytest exited with 3 (internal error)"]
    run = read_results("main", junit, tmp_path, 1.0, log=_log(tmp_path / "pytest.log", "1 passed in 1s"), exit_code=0)
    assert run.passed and run.failures() == []
    assert run_text(run).endswith("VERDICT main: PASS")
    run.mode = "gateway"
    assert run_text(run).endswith("VERDICT main: PASS (gateway view only: no write checks, no policy)")


def test_a_passed_run_with_a_teardown_error_counts_as_pytest_does(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(f'<testsuites><testsuite tests="1" failures="0" errors="1" skipped="0">'
                     f'<testcase classname="{MODULE}" name="test_case[a]" time="1">'
                     '<error message="failed on teardown with &quot;x&quot;">t</error></testcase>'
                     '</testsuite></testsuites>')
    run = read_results("main", junit, tmp_path, 1.0, log=_log(tmp_path / "pytest.log", "1 passed, 1 error in 2.0s"),
                       exit_code=1)
    assert run.problems == [] and run.cases["test_case[a]"].outcome == "error" and not run.passed


def test_pytest_summary_lines(tmp_path: Path) -> None:
    assert pytest_counts(_log(tmp_path / "a.log", "==== 1 failed, 12 passed, 2 errors, 1 warning in 31.20s ===="))\
        == ("1 failed, 12 passed, 2 errors, 1 warning in 31.20s", {"failed": 1, "passed": 12, "error": 2, "warning": 1})
    assert pytest_counts(_log(tmp_path / "b.log", "no tests ran in 0.01s")) == ("no tests ran in 0.01s", {})
    assert pytest_counts(tmp_path / "missing.log") is None
    assert item_key("tests/conformance/test_cases.py::test_case[x]") == "tests.conformance.test_cases::test_case[x]"


def test_routing_runs_fail_on_any_finding_unless_fail_if_relaxes_it() -> None:
    from rig.oracle.run_check import DEFAULT_GATE, oracle_thresholds

    assert oracle_thresholds([]) == [DEFAULT_GATE]
    assert oracle_thresholds(["p95_write_to_arrival_s>2"]) == ["p95_write_to_arrival_s>2", DEFAULT_GATE]
    assert oracle_thresholds(["oracle_findings>5"]) == ["oracle_findings>5"]
    assert oracle_thresholds(["oracle_leaks > 0", "errors>1"]) == ["oracle_leaks > 0", "errors>1"]


def test_findings_name_the_rules_the_spec_applied() -> None:
    from rig.conformance import default_spec_path
    from rig.oracle.check import general_rules
    from rig.oracle.expect import World
    from rig.oracle.routing import load

    world = World(load(default_spec_path()))
    world.apply_write("m", "1-m", {"type": "membership", "member": "bob", "team": "red"}, False)
    note = {"type": "note", "owner": "bob", "team": "red"}
    assert world.decide("n", "bob", note, False).applied == ("note.require_user({owner})",
                                                             "note.require_access(team.{team})")
    world.apply_write("n", "1-n", note, False)
    assert world.decide("n", "bob", {**note, "text": "2"}, False).applied[0] == "note.immutable(owner)"
    assert world.decide("a", None, {"type": "announcement"}, False).applied == ("announcement.admin_write",)
    assert general_rules(["membership.access (doc m-bob-red)", "user.bob.channels", "role.lead.channels"]) == (
        "membership.access, role.lead.channels, user.channels", " (via doc m-bob-red, user bob)")
