"""Reports: JUnit XML in and out, the side-by-side table marks exactly the differing cases."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from rig.conformance.runner import read_results, write_case_result
from rig.oracle import Finding, Kind
from rig.oracle.report import CaseResult, RunResult, findings_junit, run_text, side_by_side

LEAK = Finding(Kind.LEAK, "n1", "1-a", "bob", "bob-1", "note.channels", "x")


def test_side_by_side_marks_differences() -> None:
    a = RunResult("4.1.1", {"roles": CaseResult("roles", "passed"), "x": CaseResult("x", "passed")}, 10)
    b = RunResult("3.3.7", {"roles": CaseResult("roles", "failed", findings=(LEAK,)), "x": CaseResult("x", "passed")})
    table = side_by_side([a, b])
    rows = {line[1:].split()[0]: line for line in table.splitlines() if line[:1] in "* " and line.strip()}
    assert rows["roles"].startswith("*") and "FAILED (1f)" in rows["roles"]
    assert rows["x"].startswith(" ")
    assert "1 case(s) differ" in table
    assert side_by_side([a, a]).endswith("no differences")
    assert "FAILED" in run_text(b) and str(LEAK) in run_text(b)


def test_junit_round_trip(tmp_path: Path) -> None:
    xml = findings_junit("conformance", {"roles": [LEAK], "x": []})
    root = ElementTree.fromstring(xml)
    assert root.get("failures") == "1"
    junit = tmp_path / "junit.xml"
    junit.write_text(xml.replace('name="roles"', 'name="test_case[roles]"'))
    write_case_result(tmp_path / "f", "conformance.py::test_case[roles]", [LEAK], 1.0)
    run = read_results("main", junit, tmp_path / "f", 3.0)
    assert run.cases["test_case[roles]"].outcome == "failed"
    assert run.cases["test_case[roles]"].findings == (LEAK,)
    assert run.cases["x"].outcome == "passed"
    assert Finding.from_json(LEAK.to_json()) == LEAK
