"""`rig bench capacity`'s verdict from its storms (no gateway): where the p99 crossed the budget,
a storm that saturated the rig, the gateway's plateau, and the plot and page drawn from a result."""

from __future__ import annotations

import math
from typing import Any

from rig.bench.capacity import Settings, catch_up_figures, judge, step_row
from rig.report import capacity as capacity_report
from rig.report.plots import capacity as capacity_plot

SETTINGS = Settings(steps=(50, 100, 200, 400), budget_s=30.0)


def _worker(catch_up: list[float], *, saturated: bool = False, starved: bool = False) -> dict[str, Any]:
    return {"catch_up_s": catch_up, "errors": [], "failed": 0, "incomplete": 0, "rig_cpu_s": 0.1,
            "rig": {"saturated": saturated, "saturated_seconds": 2.0 if saturated else 0.0,
                    "cpu_ratio_max": 0.5 if starved else 0.97 if saturated else 0.3, "cpu_ratio_mean": 0.2,
                    "loop_lag_p99_s": 0.85 if starved else 0.01, "wait_ratio_max": 0.73 if starved else None,
                    "processes": 1, "seconds_measured": 3.0, "windows": [],
                    "cpu_threshold": 0.9, "lag_threshold_s": 0.5}}


def _step(devices: int, catch_up: list[float], *, saturated: bool = False, gateway_busy: float = 0.5,
          starved: bool = False) -> dict[str, Any]:
    return step_row(devices, 30.0, [_worker(catch_up, saturated=saturated, starved=starved)], gateway_cpu_s=1.0,
                    gateway_cores_busy_mean=gateway_busy, gateway_cores_busy_max=gateway_busy,
                    gateway_cores=1, setup_s=1.0)


def test_the_capacity_is_the_last_storm_whose_p99_stayed_inside_the_budget() -> None:
    steps = [_step(50, [1.0] * 50), _step(100, [2.0] * 100), _step(200, [5.0] * 190 + [math.inf] * 10)]
    verdict = judge(steps, SETTINGS, gateway_cores=1)
    assert steps[-1]["catch_up_s"]["p99"] is None and steps[-1]["over_budget"] == 10
    assert verdict["stopped_because"] == "budget" and verdict["found"] and verdict["passed"]
    assert verdict["capacity_devices"] == 100 and verdict["devices_per_gateway_core"] == 100.0
    assert verdict["text"].startswith("CAPACITY 100 devices")


def test_the_crossing_names_the_gateways_cpu_as_the_bound_only_when_it_was_busy_to_its_core() -> None:
    over = [5.0] * 190 + [math.inf] * 10
    busy = judge([_step(50, [1.0] * 50), _step(100, over, gateway_busy=0.95)], SETTINGS, gateway_cores=1)
    assert "the gateway's CPU was the bound there (0.95 of its 1 core(s)" in busy["text"]
    idle = judge([_step(50, [1.0] * 50), _step(100, over, gateway_busy=0.6)], SETTINGS, gateway_cores=1)
    assert "the gateway's CPU was not saturated there (0.60 of its 1 core(s)" in idle["text"]
    assert "the bound was elsewhere" in idle["text"] and "was the bound" not in idle["text"]


def test_a_p99_over_the_budget_at_the_first_storm_fails_with_capacity_zero() -> None:
    verdict = judge([_step(50, [math.inf] * 50)], SETTINGS, gateway_cores=2)
    assert verdict["capacity_devices"] == 0 and not verdict["passed"]
    assert verdict["text"].startswith("CAPACITY BELOW 50 devices")


def test_a_storm_that_saturated_the_rig_is_invalid_and_stops_the_bench_without_a_capacity() -> None:
    steps = [_step(50, [1.0] * 50), _step(100, [40.0] * 100, saturated=True)]
    assert not steps[-1]["valid"] and "timed the rig" in steps[-1]["invalid_reason"]
    verdict = judge(steps, SETTINGS, gateway_cores=1)
    assert verdict["stopped_because"] == "rig_saturated" and not verdict["passed"] and not verdict["found"]
    assert verdict["capacity_devices"] == 50 and verdict["text"].startswith("INVALID")


def test_a_rig_saturated_by_lag_alone_is_invalid_and_named_starved_by_other_work() -> None:
    # Its CPU under the threshold, its probe 0.85 s late: the core was busy with other work, so more
    # workers on it would not help; the storm is still invalid.
    steps = [_step(50, [1.0] * 50), _step(100, [40.0] * 100, saturated=True, starved=True)]
    assert not steps[-1]["valid"] and steps[-1]["rig_starved"] and not steps[0]["rig_starved"]
    reason = steps[-1]["invalid_reason"]
    assert "starved, not busy" in reason and "up to 0.73 of a second" in reason
    verdict = judge(steps, SETTINGS, gateway_cores=1)
    assert verdict["stopped_because"] == "rig_saturated" and not verdict["passed"]
    assert "starved of its core" in verdict["text"] and "More workers" not in verdict["text"]
    busy = judge([_step(50, [1.0] * 50, saturated=True)], SETTINGS, gateway_cores=1)
    assert "More workers" in busy["text"] and "starved" not in busy["text"]


def test_a_lag_the_rigs_own_garbage_collector_made_is_not_called_starved() -> None:
    worker = _worker([40.0] * 100, saturated=True, starved=True) | {"gc": {"pause_max_s": 0.81}}
    step = step_row(100, 30.0, [worker], gateway_cpu_s=1.0, gateway_cores_busy_mean=0.5,
                    gateway_cores_busy_max=0.5, gateway_cores=1, setup_s=1.0)
    assert not step["valid"] and not step["rig_starved"] and step["rig_gc_pause_max_s"] == 0.81
    assert "garbage collector paused it up to 0.81 s" in step["invalid_reason"]
    verdict = judge([_step(50, [1.0] * 50), step], SETTINGS, gateway_cores=1)
    assert "More workers" in verdict["text"] and "starved" not in verdict["text"]


def test_a_storm_with_devices_over_the_budget_lasted_the_whole_budget() -> None:
    from rig.bench.capacity import storm_seconds

    assert storm_seconds([1.0, 2.5], 2, 30.0) == 2.5  # everyone caught up: to the last one
    assert storm_seconds([1.0, 2.5], 3, 30.0) == 30.0  # one killed at the budget: to the kill
    assert storm_seconds([], 3, 30.0) == 30.0


def test_no_storm_starts_that_its_setup_and_budget_would_carry_past_the_time_limit() -> None:
    from rig.bench.capacity import _step_needs

    assert _step_needs([], 100, SETTINGS) == 30 + 30  # nothing measured yet: the budget and the answers
    done = [_step(1000, [1.0] * 1000)]  # its setup took 1.0 s
    assert _step_needs(done, 4000, SETTINGS) == 4.0 + 30 + 30


def test_steps_that_never_cross_give_a_lower_bound_not_a_pass() -> None:
    steps = [_step(n, [1.0] * n) for n in SETTINGS.steps]
    verdict = judge(steps, SETTINGS, gateway_cores=1)
    assert verdict["stopped_because"] == "steps_exhausted" and not verdict["passed"]
    assert verdict["text"].startswith("CAPACITY AT LEAST 400 devices")
    # The gateway spent 1 CPU-s per storm: 0.02, 0.01, 0.005, 0.0025 s per wake, median (upper) 0.01.
    assert verdict["gateway_cpu_s_per_wake"] == 0.01 and verdict["cpu_bound_devices_per_core"] == 3000
    assert "about 3000 devices in 30 s" in verdict["text"]


def test_a_saturated_gateway_whose_throughput_stopped_growing_is_named_with_an_estimate() -> None:
    # 100 wakes in 1 s, then 200 in 2 s: the rate stopped growing while the gateway was busy.
    steps = [_step(100, [1.0] * 100, gateway_busy=0.95), _step(200, [2.0] * 200, gateway_busy=0.95)]
    verdict = judge(steps, SETTINGS, gateway_cores=1)
    assert verdict["stopped_because"] is None  # saturation alone does not stop the steps
    assert verdict["gateway_saturated_from"] == 200 and verdict["estimate_devices"] == 3000


def test_quantiles_over_the_budget_are_none_not_infinity() -> None:
    assert catch_up_figures([1.0, 2.0, math.inf]) == {"p50": 2.0, "p90": None, "p99": None, "max": None}
    assert catch_up_figures([]) == {"p50": None, "p90": None, "p99": None, "max": None}


def test_the_plot_and_the_page_show_every_storm_and_the_verdict() -> None:
    steps = [_step(50, [1.0] * 50), _step(100, [math.inf] * 100), _step(200, [9.0] * 200, saturated=True)]
    svg = capacity_plot(steps, 30.0)
    assert svg.startswith("<svg") and "budget 30 s" in svg and "rig saturated: invalid" in svg
    result = {"steps": steps, "verdict": judge(steps, SETTINGS, 1), "settings": {"budget_s": 30.0, "workers": 1,
              "backlog": 10, "doc_bytes": 1000}, "cores": {"gateway": [1], "rig": [0], "gateway_pinned": True},
              "gateway": "main", "storage": "rosmar in memory", "machine": {}, "wall_s": 1.0, "time": "now"}
    page = capacity_report.render(result)
    assert "CAPACITY 50 devices" in page and page.count("<tr>") >= 4 and "over budget" in page
