"""Scenario validation, thresholds and metric names, without a gateway."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from rig._errors import ConfigError
from rig.device.measure import Arrival, Measurements, WakeMeasurement
from rig.load.results import check_thresholds, flat_metrics
from rig.load.scenario import find_scenario, load_scenario
from rig.metrics import DeviceStateCollector, PushCollector, RigMetrics
from rig.push import PushCounters
from rig.replicator import EventKind, ReplicationEvent


def test_shipped_scenarios_load() -> None:
    demo = find_scenario("demo")
    assert demo.device_count == 300
    assert find_scenario("smoke").device_count == 30
    assert demo.driver == "loop"  # the default driver since it costs less per document (docs/load-runs.md)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('fleet = "demo"\ndurration_s = 5\n', "unknown key 'durration_s'"),
        ('fleet = "demo"\n[workload]\ndocs_per_usr = 1\n', "unknown key 'workload.docs_per_usr'"),
        ('fleet = "demo"\nduration_s = "long"\n', "duration_s must be float"),
        ('fleet = "demo"\n[workload]\nattachment_share = 3\n', "workload.attachment_share is a share"),
        ('fleet = "nope"\n', "fleet: no fleet 'nope'"),
        ('fleet = "demo"\ndriver = "threads"\n', "driver must be one of gevent, loop"),
    ],
)
def test_scenario_mistakes_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_scenario(path)


def _measurements() -> Measurements:
    m = Measurements(60.0)
    m.add_wake(WakeMeasurement("d1", "ios-active", "push", 0.0, 0.5, 3, 0, False, 1.2))
    m.add_wake(WakeMeasurement("d2", "ios-active", "refresh", 0.0, None, 1, 0, True))
    for i in range(100):
        m.add_arrival(Arrival(f"doc{i}", "d1", "u", i / 10, "after_wake"))
    return m


def test_thresholds_decide_and_explain() -> None:
    totals = {"devices": 2, "device_errors": 0, "final_sync_failures": [], "verify_problems": ["leak: x"]}
    flat = flat_metrics(_measurements(), totals, {"sgw_replication_pull_rev_send_count": 100.0}, 10.0)
    assert flat["pull_docs_per_s"] == 10.0
    assert flat["budget_kills"] == 1
    assert flat["leaks"] == 1
    assert flat["p95_write_to_arrival_s"] == pytest.approx(9.4, abs=0.11)
    assert check_thresholds(["p95_write_to_arrival_s>2", "leaks==0"], flat) == ["p95_write_to_arrival_s = 9.4 > 2"]
    with pytest.raises(ConfigError, match="unknown figure 'p95_latency'"):
        check_thresholds(["p95_latency>2"], flat)
    with pytest.raises(ConfigError, match="expected NAME OP NUMBER"):
        check_thresholds(["p95 write > 2"], flat)


def test_summary_marks_scaling() -> None:
    summary = _measurements().summary()
    assert summary["time_scale"] == 60.0
    assert summary["wakes_by_trigger"]["refresh"]["overruns"] == 1
    assert summary["wakes_by_trigger"]["push"]["push_delay_s_real"]["p50"] == 1.2


def test_metric_names_follow_prometheus_conventions() -> None:
    registry = CollectorRegistry()
    metrics = RigMetrics(registry)
    registry.register(DeviceStateCollector(lambda: ["suspended", "suspended", "awake"]))
    registry.register(PushCollector(lambda: [PushCounters(received=3, delivered=2)]))
    for item in _measurements().wakes + _measurements().arrivals:
        metrics.on_measurement(item)
    metrics.on_replication_event(ReplicationEvent(EventKind.PULLED, "a", "1-a"))
    metrics.on_replication_event(ReplicationEvent(EventKind.REJECTED, "b", "1-b"))
    text = generate_latest(registry).decode()
    assert 'rig_devices{cbl="other",state="suspended"} 2.0' in text  # states without a release
    assert 'rig_wakes_total{cbl="other",trigger="push"} 1.0' in text
    assert 'rig_budget_kills_total{cbl="other",trigger="refresh"} 1.0' in text
    assert 'rig_push_events_total{outcome="delivered"} 2.0' in text
    assert 'rig_documents_total{cbl="other",direction="pulled"} 1.0' in text
    assert 'rig_replication_events_total{cbl="other",kind="rejected"} 1.0' in text
    assert "rig_write_to_arrival_seconds_bucket" in text
    assert "rig_sync_duration_seconds_count" in text
