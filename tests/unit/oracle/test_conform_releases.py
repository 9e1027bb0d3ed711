"""`rig conform --cbl`: one run per release, one column each, and any failing release fails the whole
(the suite itself is replaced here; tests/conformance/test_conform_per_release.py runs it on the real gateway)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from rig._errors import ConfigError
from rig.cli import conform
from rig.conformance import runner
from rig.oracle.report import CaseResult, RunResult


def fake_suite(failing: set[str], calls: list[tuple[str, str | None]]) -> Any:
    def run_suite(target: runner.Target, out_dir: Path, **kwargs: Any) -> RunResult:
        calls.append((target.label, kwargs.get("cbl")))
        outcome = "failed" if kwargs.get("cbl") in failing else "passed"
        run = RunResult(target.label, pytest_exit=1 if outcome == "failed" else 0, cbl=kwargs.get("cbl") or "")
        run.cases["test_case[roles]"] = CaseResult("test_case[roles]", outcome)
        return run
    return run_suite


def args(tmp_path: Path, cbl: str | None) -> argparse.Namespace:
    return argparse.Namespace(routing=None, sync_function=None, gateway_version=[], gateway_binary=[], gateway=[],
                              workers=1, select=None, out=tmp_path, json=False, cbl=cbl, mutants=False)


@pytest.mark.parametrize(("failing", "code"), [(set(), 0), ({"3.4"}, 1)])
def test_every_release_runs_in_its_own_column_and_one_failing_release_fails_the_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], failing: set[str],
        code: int) -> None:
    calls: list[tuple[str, str | None]] = []
    monkeypatch.setattr(runner, "run_suite", fake_suite(failing, calls))
    monkeypatch.setattr(conform, "_targets", lambda _: [("main", tmp_path / "sg")])
    assert conform._conform(args(tmp_path, None)) == code
    assert calls == [("main cbl 3.3", "3.3"), ("main cbl 3.4", "3.4"), ("main cbl 4.1", "4.1")]
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.strip().startswith("case"))
    assert header.split()[1:] == ["main", "cbl", "3.3", "main", "cbl", "3.4", "main", "cbl", "4.1"]
    assert ("1 case(s) differ" in out) == bool(failing)


def test_one_release_keeps_the_gateways_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str | None]] = []
    monkeypatch.setattr(runner, "run_suite", fake_suite({"4.1"}, calls))
    monkeypatch.setattr(conform, "_targets", lambda _: [("main", tmp_path / "sg")])
    assert conform._conform(args(tmp_path, "4.1")) == 1
    assert calls == [("main", "4.1")]


def test_release_names() -> None:
    assert conform.releases(None) == ["3.3", "3.4", "4.1"]
    assert conform.releases(" 4.1, 3.3,4.1") == ["4.1", "3.3"]
    with pytest.raises(ConfigError, match=r"--cbl: unknown Couchbase Lite release '3\.5'"):
        conform.releases("3.3,3.5")
    with pytest.raises(ConfigError, match="at least one"):
        conform.releases(",")
