"""`rig run`'s CPU per document (rig.load.cpu_cost): the arithmetic, without a gateway."""

from __future__ import annotations

import os
from typing import Any

import pytest

from rig.load.cpu_cost import (
    cpu_per_document,
    figures,
    proc_cpu_seconds,
    proc_start_ticks,
    rig_cpu_seconds,
    summary_text,
    unmeasured,
)
from rig.metrics.saturation import SaturationTracker


def _process(ticks: list[tuple[float, float]], start: float = 100.0) -> dict[str, Any]:
    """A saturation summary whose monitor ticked once a second from `start` with (CPU ratio, seconds)."""
    tracker = SaturationTracker("worker-0")
    tracker.observe(0.0, 0.0, 0.0, start)
    monotonic, cpu, wall = 0.0, 0.0, start
    for ratio, seconds in ticks:
        monotonic, cpu, wall = monotonic + seconds, cpu + ratio * seconds, wall + seconds
        tracker.observe(monotonic, cpu, 0.0, wall)
    return tracker.summary()


def _samples(times: list[float], pushed: list[float], pulled: list[float],
             **cpu: list[float]) -> list[dict[str, Any]]:
    rows = []
    for i, t in enumerate(times):
        row: dict[str, Any] = {"t": t, "gateway_pushed": pushed[i], "gateway_pulled": pulled[i]}
        row.update({key: values[i] for key, values in cpu.items()})
        rows.append(row)
    return rows


def test_series_carries_each_ticks_length_so_cpu_seconds_add_up() -> None:
    summary = _process([(0.5, 1.0), (0.25, 2.0), (1.0, 1.0)])
    assert [row[4] for row in summary["series"]] == [1.0, 2.0, 1.0]
    assert rig_cpu_seconds(summary["series"], 100.0, 104.0) == pytest.approx(0.5 + 0.5 + 1.0)
    assert rig_cpu_seconds(summary["series"], 101.0, 103.0) == pytest.approx(0.5)  # only the tick ending at 103
    assert rig_cpu_seconds([[101.0, 0.5, 0.0, None]], 100.0, 104.0) == 0.0  # an old series without lengths


def test_rig_and_gateway_ms_per_document_and_their_ratio() -> None:
    worker = _process([(0.5, 1.0)] * 10)  # ticks end at 101 ... 110: 0.5 CPU-s each
    master = _process([(0.1, 1.0)] * 10)
    samples = _samples([99.5, 100.0, 105.0, 110.0, 112.0], pushed=[0, 0, 200, 400, 450],
                       pulled=[0, 0, 300, 600, 700], gateway_cpu_proc_s=[1.0, 1.0, 4.0, 7.0, 9.0],
                       gateway_cpu_metric_s=[50.0, 50.0, 60.0, 70.0, 71.0])
    cost = cpu_per_document(samples, [master, None, worker])
    # Window: the sample at 100 (the last at or before the first tick's start) to the one at 110.
    assert cost["window_s"] == 10.0
    assert cost["documents"] == 1000.0
    assert cost["rig_cpu_s"] == pytest.approx(6.0)  # 10 x 0.5 + 10 x 0.1
    assert cost["gateway_cpu_s"] == pytest.approx(6.0)  # /proc preferred: 7 - 1
    assert cost["source"].startswith("/proc")
    assert cost["rig_ms"] == pytest.approx(6.0)
    assert cost["gateway_ms"] == pytest.approx(6.0)
    assert cost["ratio"] == pytest.approx(1.0)
    assert cost["processes"] == 2
    assert figures(cost) == {"rig_cpu_ms_per_doc": 6.0, "gateway_cpu_ms_per_doc": 6.0, "rig_vs_gateway_cpu_ratio": 1.0}
    assert "rig 6.000 ms" in summary_text(cost) and "rig/gateway 1.00" in summary_text(cost)


def test_the_gateways_metric_when_proc_did_not_cover_the_window_and_restarts_counted() -> None:
    worker = _process([(0.2, 1.0)] * 10)
    # /proc lost after a restart (new pid); the metric restarts from zero and is taken as increase().
    samples = _samples([100.0, 105.0, 108.0, 110.0], pushed=[0, 50, 10, 30], pulled=[0, 50, 0, 20],
                       gateway_cpu_metric_s=[10.0, 14.0, 1.0, 2.0])
    samples[0]["gateway_cpu_proc_s"] = 3.0
    cost = cpu_per_document(samples, [worker])
    assert cost["source"] == "gateway metric process_cpu_seconds_total"
    assert cost["documents"] == 100 + 30 + 20
    assert cost["gateway_cpu_s"] == pytest.approx(4.0 + 1.0 + 1.0)
    assert cost["rig_ms"] == pytest.approx(2.0 / 150 * 1000, rel=1e-3)
    assert cost["ratio"] == pytest.approx(2.0 / 6.0, rel=1e-3)


def test_not_measured_is_said_and_a_threshold_on_it_fails() -> None:
    worker = _process([(0.2, 1.0)] * 5)
    cost = cpu_per_document(_samples([100.0, 105.0], pushed=[0, 10], pulled=[0, 10]), [worker])
    assert cost["rig_ms"] == pytest.approx(50.0)
    assert cost["gateway_ms"] is None and cost["ratio"] is None
    assert "not measured" in cost["source"]
    assert figures(cost) == {"rig_cpu_ms_per_doc": 50.0}
    assert "gateway CPU not measured" in summary_text(cost)
    kept, failed = unmeasured(["rig_vs_gateway_cpu_ratio>0.5", "rig_cpu_ms_per_doc>100", "leaks>0"], cost)
    assert kept == ["rig_cpu_ms_per_doc>100", "leaks>0"]
    assert failed == ["rig_vs_gateway_cpu_ratio not measured (gateway CPU not measured (no gateway pid and no "
                      "process_cpu_seconds_total)): 'rig_vs_gateway_cpu_ratio>0.5' cannot pass"]
    nothing = cpu_per_document([], [worker])
    assert nothing["rig_ms"] is None and figures(nothing) == {}
    assert summary_text(nothing).startswith("CPU per document: not measured")


def test_no_documents_gives_no_per_document_figure() -> None:
    worker = _process([(0.2, 1.0)] * 5)
    cost = cpu_per_document(_samples([100.0, 105.0], pushed=[5, 5], pulled=[7, 7], gateway_cpu_metric_s=[1.0, 2.0]),
                            [worker])
    assert cost["documents"] == 0 and cost["rig_ms"] is None and cost["gateway_ms"] is None
    assert cost["ratio"] == pytest.approx(1.0)  # both CPUs are still measured


def test_proc_reads_this_process_and_refuses_another_start_time() -> None:
    started = proc_start_ticks(os.getpid())
    assert started is not None
    assert (proc_cpu_seconds(os.getpid(), started) or 0.0) > 0.0
    assert proc_cpu_seconds(os.getpid(), started + 1) is None  # a reused pid is another process
    assert proc_start_ticks(2**22 + 1) is None
