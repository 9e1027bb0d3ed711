"""Run figures per Couchbase Lite release: measurements, the merged worker files, the summary text,
the report's table and the bounded `cbl` label, without a gateway."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from rig.device.measure import Arrival, Measurements, WakeMeasurement
from rig.load.results import release_lines
from rig.metrics import DeviceStateCollector, RigMetrics
from rig.replicator import EventKind, ReplicationEvent
from rig.report import run_report
from rig.runfiles import merge, release_summary


def measurements() -> Measurements:
    m = Measurements(60.0)
    m.add_wake(WakeMeasurement("u0/a/0", "a", "push", 0.0, 0.5, 3, 1, False, cbl="4.1"))
    m.add_wake(WakeMeasurement("u0/a/0", "a", "refresh", 0.0, 1.5, 2, 0, True, cbl="4.1"))
    m.add_wake(WakeMeasurement("u1/a/1", "a", "push", 0.0, 4.0, 1, 0, False, cbl="3.3"))
    for i in range(10):
        m.add_arrival(Arrival(f"doc{i}", "u0/a/0", "u0", 0.1 * (i + 1), "after_wake", "4.1"))
    m.add_arrival(Arrival("old", "u9/a/9", "u9", 9.0, "awake"))  # a record from before releases
    return m


def test_measurements_are_broken_down_by_release_in_the_rigs_order() -> None:
    rows = measurements().summary()["by_release"]
    assert list(rows) == ["3.3", "4.1", "unknown"]
    assert rows["4.1"]["wakes"] == 2 and rows["4.1"]["overruns"] == 1 and rows["4.1"]["wake_docs_pulled"] == 5
    assert rows["4.1"]["arrivals"] == 10
    assert rows["4.1"]["write_to_arrival_s_real"]["p50"] == 0.5 and rows["4.1"]["write_to_arrival_s_real"]["p95"] == 1.0
    assert rows["3.3"]["wake_to_caught_up_s_real"]["p95"] == 4.0 and rows["3.3"]["arrivals"] == 0
    assert rows["unknown"]["arrivals"] == 1 and rows["unknown"]["wakes"] == 0


def test_worker_files_merge_into_one_row_per_release(tmp_path: Path) -> None:
    m = measurements()
    for index, counted in enumerate([{"4.1": {"devices": 3, "docs_pulled": 10.0, "docs_pushed": 2.0}},
                                     {"4.1": {"devices": 1, "docs_pulled": 5.0, "docs_pushed": 0.0},
                                      "3.4": {"devices": 2, "docs_pulled": 0.0, "docs_pushed": 0.0}}]):
        (tmp_path / f"worker-{index}.json").write_text(json.dumps({
            "devices": 4, "device_errors": 0, "final_sync_failures": [], "verify_problems": [], "push": {},
            "measurements": m.as_records() if index == 0 else {"wakes": [], "arrivals": []}, "by_release": counted}))
    merged, totals = merge(tmp_path, 60.0)
    assert totals["by_release"] == {"4.1": {"devices": 4, "docs_pulled": 15.0, "docs_pushed": 2.0},
                                    "3.4": {"devices": 2, "docs_pulled": 0.0, "docs_pushed": 0.0}}
    rows = release_summary(merged.summary()["by_release"], totals["by_release"])
    assert list(rows) == ["3.3", "3.4", "4.1", "unknown"]
    assert (rows["4.1"]["devices"], rows["4.1"]["docs_pulled"], rows["4.1"]["wakes"]) == (4, 15, 2)
    assert (rows["3.4"]["devices"], rows["3.4"]["wakes"], rows["3.4"]["arrivals"]) == (2, 0, 0)
    assert rows["3.3"]["devices"] == 0 and rows["3.3"]["wakes"] == 1  # measured, but no process counted it


def test_the_summary_text_and_the_report_show_a_row_per_release() -> None:
    rows = release_summary(measurements().summary()["by_release"],
                           {"3.3": {"devices": 1, "docs_pulled": 7.0, "docs_pushed": 1.0},
                            "4.1": {"devices": 2, "docs_pulled": 15.0, "docs_pushed": 2.0}})
    lines = release_lines(rows)
    assert lines[0].strip().startswith("by client release") and len(lines) == 4
    four = next(line for line in lines if "cbl 4.1" in line)
    assert four.split()[2:4] == ["2", "2"] and "0.50s /  1.00s" in four and four.rstrip().endswith("15 / 2")
    html = "".join(run_report._release_rows({"by_release": rows}))
    assert "Couchbase Lite 4.1" in html and "Couchbase Lite 3.3" in html and "write to arrival p95" in html
    assert "no per-release figures" in "".join(run_report._release_rows({}))
    assert release_lines({}) == []


def test_the_cbl_label_is_bounded_to_the_releases_the_rig_emulates() -> None:
    registry = CollectorRegistry()
    metrics = RigMetrics(registry)
    registry.register(DeviceStateCollector(lambda: [("awake", "4.1"), ("awake", "4.1"), ("suspended", "9.9")]))
    for item in measurements().wakes + measurements().arrivals:
        metrics.on_measurement(item)
    for cbl in ("3.4", "4.1", "7.0"):
        metrics.observer(cbl)(ReplicationEvent(EventKind.PULLED, "a", "1-a"))
    metrics.observer("4.1")(ReplicationEvent(EventKind.PUSHED, "b", "1-b"))
    text = generate_latest(registry).decode()
    assert 'rig_devices{cbl="4.1",state="awake"} 2.0' in text
    assert 'rig_devices{cbl="other",state="suspended"} 1.0' in text
    assert 'rig_wakes_total{cbl="4.1",trigger="push"} 1.0' in text
    assert 'rig_wakes_total{cbl="3.3",trigger="refresh"} 0.0' in text  # every known release from the start
    assert 'rig_write_to_arrival_seconds_count{cbl="4.1",phase="after_wake"} 10.0' in text
    assert 'rig_documents_total{cbl="other",direction="pulled"} 1.0' in text
    labels = {line.split('cbl="', 1)[1].split('"', 1)[0] for line in text.splitlines() if 'cbl="' in line}
    assert labels == {"3.3", "3.4", "4.1", "other"}
    assert metrics.documents_by_release() == {"3.4": {"pulled": 1.0}, "4.1": {"pulled": 1.0, "pushed": 1.0},
                                              "other": {"pulled": 1.0}}
