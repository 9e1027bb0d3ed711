"""The release check's verdict: each kind of finding seen failing, and nothing flagged between equals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rig.gateway.named import parse_gateway
from rig.release.check import case_name, verdict_text
from rig.release.compare import compare
from rig.release.store import StageStore, stage_key
from rig.report.release import render


def _case(outcome: str = "passed", findings: tuple[tuple[str, str, str], ...] = ()) -> dict[str, Any]:
    return {"outcome": outcome, "findings": [{"kind": k, "doc": d, "rule": r, "rev": "1-a", "user": "bob",
                                              "device": "bob-1", "detail": ""} for k, d, r in findings]}


def _gateway(label: str, *, cases: dict[str, Any] | None = None, cpu: float = 0.30, oracle: float = 0.0,
             bench_ok: bool = True, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    bench: dict[str, Any] = {"ok": bench_ok, "error": "" if bench_ok else "GatewayStartError: boom",
                             "results": [{"scenario": "pull, 1 device", "gateway_cpu_s_per_1000_docs": cpu,
                                          "docs_per_s": 2000.0},
                                         {"scenario": "push, 1 device", "gateway_cpu_s_per_1000_docs": 0.4,
                                          "docs_per_s": 3000.0}]}
    return {"label": label, "name": f"{label}=version:main",
            "describe": {"name": f"{label}=version:main", "kind": "version", "version": "SG 4.2",
                         "settings": settings or {"database": {}, "server": {}}},
            "stages": {"conformance": {"ok": True, "cases": cases if cases is not None else
                                       {"public_channel": _case(), "star_channel": _case()}},
                       "bench": bench,
                       "scenario": {"ok": True, "counts": {"oracle_findings": oracle, "lost_writes": 0.0,
                                                           "verify_problems": 0, "docs_moved": 900.0}}}}


def test_equal_gateways_pass_within_the_tolerance() -> None:
    result = compare([_gateway("a"), _gateway("b", cpu=0.30 * 1.2)], tolerance=0.25)
    assert result.passed, [str(f) for f in result.findings]
    assert result.bench_rows[0]["cpu_ratio"]["b"] == 1.2
    assert "PASSED" in verdict_text(result)


def test_a_cost_regression_beyond_the_tolerance_is_a_finding() -> None:
    result = compare([_gateway("a"), _gateway("b", cpu=0.30 * 1.6)], tolerance=0.25)
    assert not result.passed
    [finding] = result.findings
    assert (finding.kind, finding.gateway, finding.subject) == ("regression", "b", "pull, 1 device")
    assert "x1.60" in finding.detail and result.bench_rows[0]["regressed"] == ["b"]
    # Cheaper is never a regression.
    assert compare([_gateway("a"), _gateway("b", cpu=0.1)]).passed


def test_a_conformance_difference_names_the_case_and_the_findings() -> None:
    leaky = {"public_channel": _case(), "star_channel": _case(),
             "anonymous_client": _case("failed", (("leak", "n-red", "GUEST has no grant"),))}
    base = {"public_channel": _case(), "star_channel": _case(), "anonymous_client": _case()}
    result = compare([_gateway("a", cases=base), _gateway("b", cases=leaky)])
    [finding] = result.findings
    assert (finding.kind, finding.subject) == ("conformance", "anonymous_client")
    assert "failed where a passed" in finding.detail and "leak doc=n-red user=bob" in finding.detail
    rows = {r["case"]: r for r in result.conformance_rows}
    assert rows["anonymous_client"]["differs"] and not rows["public_channel"]["differs"]


def test_a_case_is_named_by_its_parameter_not_its_test_function() -> None:
    assert case_name("test_case[anonymous_client]") == "anonymous_client"
    assert case_name("test_case_against_the_gateway_view[x]") == "test_case_against_the_gateway_view[x]"


def test_the_same_failure_on_both_gateways_is_no_difference() -> None:
    same = {"star_channel": _case("failed", (("miss", "n-red", "x"),))}
    assert compare([_gateway("a", cases=same), _gateway("b", cases=same)]).passed


def test_more_oracle_findings_in_the_fleet_run_and_a_failed_stage_are_findings() -> None:
    result = compare([_gateway("a"), _gateway("b", oracle=3.0, bench_ok=False)])
    kinds = sorted((f.kind, f.subject) for f in result.findings)
    assert kinds == [("scenario", "oracle_findings"), ("stage", "bench")]


def test_settings_differences_are_shown_not_judged() -> None:
    small = {"database": {"cache": {"rev_cache": {"size": 1}}}, "server": {}}
    result = compare([_gateway("a"), _gateway("b", settings=small)])
    assert result.passed
    assert [r["key"] for r in result.settings_rows if r["differs"]] == ["name", "settings"]


def test_the_report_shows_the_verdict_and_each_side() -> None:
    document = {"time": "2026-12-05T10:00:00Z", "seconds": 600.0,
                "gateways": [_gateway("a"), _gateway("b", cpu=0.9)],
                "comparison": compare([_gateway("a"), _gateway("b", cpu=0.9)]).as_dict()}
    page = render(document)
    assert "FAILED: 1 finding(s) against a (exit code 1)" in page
    assert "pull, 1 device" in page and "b gateway CPU-s / 1,000 docs" in page and "star_channel" in page
    document["comparison"] = compare([_gateway("a"), _gateway("b")]).as_dict()
    assert "PASSED" in render(document)


def test_stored_stages_are_keyed_by_name_settings_and_options(tmp_path: Path) -> None:
    settings = tmp_path / "s.json"
    settings.write_text('{"database": {}}')
    name = parse_gateway(f"b=version:main+config:{settings}")
    key = stage_key(name, "bench", {"docs": 10})
    assert key.startswith("b-bench-")
    assert key != stage_key(name, "bench", {"docs": 20}) != stage_key(parse_gateway("b=version:main"), "bench",
                                                                      {"docs": 10})
    settings.write_text('{"database": {"delta_sync": {"enabled": true}}}')
    assert stage_key(name, "bench", {"docs": 10}) != key
    store = StageStore(tmp_path)
    store.save(key, {"ok": False, "error": "x"})
    assert store.completed(key) is None
    store.save(key, {"ok": True, "results": []})
    assert store.completed(key) == {"ok": True, "results": []}


def test_a_benchmark_shown_but_not_judged_never_fails_the_check() -> None:
    a, b = _gateway("a"), _gateway("b", cpu=3.0)
    for gateway in (a, b):
        gateway["stages"]["bench"]["results"][0]["judged"] = False
    assert compare([a, b]).passed
    b["stages"]["bench"]["results"][0]["judged"] = True
    a["stages"]["bench"]["results"][0]["judged"] = True
    assert not compare([a, b]).passed


def test_bad_options_are_refused_before_any_gateway_starts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from rig.cli import main

    given = ["release-check", "--gateway", "a=version:main", "--gateway", "b=version:main", "--out", str(tmp_path)]
    assert main([*given, "--clients", "3.3,5.0"]) == 2
    assert "--clients '3.3,5.0': unknown '5.0'" in capsys.readouterr().err
    assert main([*given, "--gateway", "c=verison:main"]) == 2
    assert "did you mean 'version'" in capsys.readouterr().err
    assert main([*given[:3], "--out", str(tmp_path)]) == 2  # one gateway: nothing to compare
    assert not (tmp_path / "release-check.json").exists()
