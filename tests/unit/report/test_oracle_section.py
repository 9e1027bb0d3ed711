"""The run report's oracle section: what was judged, the findings by rule, examples."""

from __future__ import annotations

from pathlib import Path

from rig.device.measure import Measurements
from rig.report.data import RunData, Series
from rig.report.run_report import _oracle

LEAK = ("leak: note.seed.user-0034.1@1-f9a2 user=user-0015 device=user-0015/ios-rare/47 "
        "rule=note.channels (spec channels ['team.6']; user has ['team.3'])")


def _run(oracle: dict[str, object] | None) -> RunData:
    return RunData(Path("r"), {"oracle": oracle, "sync_function": "wrong_channel.js"}, Measurements(), Series(), 0.0)


def test_findings_are_shown_with_their_rule_and_an_example() -> None:
    html = "".join(_oracle(_run({
        "spec": "teams", "counts": {"leak": 55486, "miss": 0}, "findings": 55486, "writes": 1404,
        "writes_refused": 48, "writes_the_spec_rejects": 48, "snapshots_final": 300, "snapshots_mid_run": 558,
        "docs_judged_final": 202800, "by_rule": {"leak: note.channels": 55486}, "examples": [LEAK]})))
    assert "55486 finding(s)" in html
    assert "leak: note.channels" in html and "user-0015/ios-rare/47" in html
    assert "wrong_channel.js" in html and "202800 documents judged" in html
    assert "no findings" not in html


def test_a_clean_run_says_so_and_a_run_without_a_spec_says_it_was_not_judged() -> None:
    clean = "".join(_oracle(_run({"spec": "teams", "counts": {"leak": 0}, "findings": 0, "writes": 10,
                                  "by_rule": {}, "examples": []})))
    assert "no findings" in clean
    assert "did not judge" in "".join(_oracle(_run(None)))


def test_the_links_section_lists_each_class_and_the_netdown_windows() -> None:
    from rig.report.run_report import _links

    summary = {"links": {"shaped": True, "cut_plan": None, "classes": {
        "slow4g": {"devices": 25, "connections": 74, "bytes_up": 73828, "bytes_down": 348062, "cuts": 2},
        "cable": {"devices": 11, "connections": 38, "bytes_up": 55015, "bytes_down": 261998, "cuts": 0}},
        "netdown_seen": [{"down_at": 105.0, "up_at": 108.5, "cuts": 7}]}}
    html = "".join(_links(RunData(Path("r"), summary, Measurements(), Series(), 100.0)))
    assert html.index("cable") < html.index("slow4g")
    assert "348062" in html and "74" in html
    assert "down from 5.0 s to 8.5 s, 7 connection(s) cut" in html
    straight = "".join(_links(RunData(Path("r"), {"links": None}, Measurements(), Series(), 0.0)))
    assert "straight to the gateway" in straight


def test_the_gateway_records_line_names_a_drifted_record_and_the_known_defect() -> None:
    oracle = {"spec": "teams", "counts": {"leak": 14}, "findings": 14, "writes": 10, "by_rule": {}, "examples": []}
    drifted = {"users": 20, "documents": 35, "drift": [{"user": "user-0003"}],
               "drift_text": ["user-0003 holds team.3, which no document grants"]}
    run = RunData(Path("r"), {"oracle": oracle, "gateway_principals": drifted}, Measurements(), Series(), 0.0)
    html = "".join(_oracle(run))
    assert "1 records disagree" in html and "user-0003 holds team.3" in html
    assert "known-gateway-defects.md#lost-channel-invalidation" in html
    run.summary["gateway_principals"] = {"users": 20, "documents": 35, "drift": [], "drift_text": []}
    html = "".join(_oracle(run))
    assert "every record agrees" in html and "lost-channel-invalidation" not in html
