"""The report's first screen: the verdict reflects failing thresholds and correctness findings,
figures carry human names and units, errors are split into recovered and failed."""

from __future__ import annotations

from pathlib import Path

from rig.device.measure import Measurements
from rig.report.data import RunData, Series
from rig.report.run_report import render
from rig.report.verdict import errors_split, figures_table, judge, verdict_block

PASSING = {"scenario": "smoke", "devices": 30, "duration_s": 15,
           "figures": {"push_docs_per_s": 2.5, "pull_docs_per_s": 14.2, "p95_write_to_arrival_s": 1.25,
                       "leaks": 0.0, "misses": 0.0, "lost_writes": 0.0, "errors": 12.0},
           "thresholds": {"given": ["p95_write_to_arrival_s>5"], "failed": []},
           "device_errors_by_kind": {"ConnectionClosed": 9, "ConnectError": 3}, "final_sync_failures": []}


def test_a_passing_run_says_pass_with_its_thresholds() -> None:
    assert judge(PASSING) == (True, [])
    block = verdict_block(PASSING)
    assert ">PASS<" in block and "none of 1 failed (fail if: p95_write_to_arrival_s&gt;5)" in block
    assert "12 recovered" in block and "0 failed" in block
    assert "routing oracle: not run" in block


def test_a_failing_threshold_makes_the_verdict_fail_and_names_it() -> None:
    failing = {**PASSING, "thresholds": {"given": ["p95_write_to_arrival_s>1"],
                                         "failed": ["p95_write_to_arrival_s = 1.25 > 1"]}}
    passed, reasons = judge(failing)
    assert not passed and reasons == ["threshold failed: p95_write_to_arrival_s = 1.25 > 1"]
    block = verdict_block(failing)
    assert ">FAIL<" in block and ">PASS<" not in block
    assert "threshold failed: p95_write_to_arrival_s = 1.25 &gt; 1" in block and "1 of 1 failed" in block
    # The verdict comes first on the page, before the figures and the run's details.
    page = render(RunData(Path("r"), failing, Measurements(), Series(), 0.0))
    assert page.index(">FAIL<") < page.index("Key figures") < page.index("<h2>Run</h2>")


def test_a_leak_or_a_lost_write_fails_the_run_without_a_threshold() -> None:
    leaky = {**PASSING, "figures": {**PASSING["figures"], "leaks": 3.0, "lost_writes": 1.0},
             "oracle": {"spec": "teams", "findings": 2}}
    passed, reasons = judge(leaky)
    assert not passed
    assert reasons == ["documents a device holds but may not read: 3", "acknowledged writes missing on the gateway: 1"]
    assert "2 finding(s)" in verdict_block(leaky)


def test_errors_are_split_into_recovered_and_failed() -> None:
    summary = {"device_errors_by_kind": {"ConnectionClosed": 80, "ConnectError": 5, "RemoteBlipError": 2},
               "final_sync_failures": ["user-0001/ios-active/3: ConnectError"]}
    assert errors_split(summary) == (85, 3)
    assert "2 failed" not in verdict_block(summary) and "3 failed" in verdict_block(summary)


def test_figures_have_human_names_units_and_groups() -> None:
    table = figures_table({"p95_write_to_arrival_s": 1.25, "push_docs_per_s": 2.5, "leaks": 0.0, "new_thing": 7.0})
    assert "write to arrival, 95th percentile" in table and "1.25 s" in table
    assert "2.5 docs/s" in table and "documents a device holds but may not read" in table
    assert table.index("throughput") < table.index("latency") < table.index("correctness") < table.index("other")


def test_the_rig_saturation_shows_when_the_run_recorded_it() -> None:
    assert "saturated" not in verdict_block(PASSING)
    assert "the rig itself was saturated" in verdict_block({**PASSING, "rig": {"saturated": True}})
