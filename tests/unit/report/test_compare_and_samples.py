"""Regression rules of `rig compare`, and the merge of the processes' samples onto one clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rig.device.measure import Measurements
from rig.report.compare import FIGURES, Better, Figure, compare, judge
from rig.report.data import RunData, merge_samples


def _figure(name: str) -> Figure:
    return next(f for f in FIGURES if f.name == name)


@pytest.mark.parametrize(("name", "a", "b", "verdict"), [
    ("p95_write_to_arrival_s", 2.0, 2.1, ""),            # within 10 %
    ("p95_write_to_arrival_s", 2.0, 2.5, "regression"),
    ("p95_write_to_arrival_s", 2.0, 1.5, "better"),
    ("p50_wake_to_caught_up_s", 0.01, 0.04, ""),         # 4x, but under the 0.05 s floor
    ("pull_docs_per_s", 100.0, 80.0, "regression"),
    ("pull_docs_per_s", 100.0, 120.0, "better"),
    ("leaks", 0.0, 1.0, "regression"),                   # any increase
    ("misses", 2.0, 0.0, "better"),
    ("devices", 30.0, 300.0, ""),                        # context only
    ("stale", 0.0, None, ""),
    ("lost_writes", None, 0.0, ""),                      # a run from before write checks
])
def test_judge(name: str, a: float, b: float | None, verdict: str) -> None:
    assert judge(_figure(name), a, b, 0.10) == verdict


def test_every_threshold_figure_has_a_direction() -> None:
    assert {f.better for f in FIGURES} == set(Better)
    assert len({f.name for f in FIGURES}) == len(FIGURES)


def _run(name: str, figures: dict[str, float]) -> RunData:
    from rig.report.data import Series

    return RunData(Path(name), {"figures": figures}, Measurements(), Series(), 0.0)


def test_compare_rows_and_change() -> None:
    rows = {r.name: r for r in compare(_run("a", {"leaks": 0, "pull_docs_per_s": 10.0}),
                                       _run("b", {"leaks": 3, "pull_docs_per_s": 10.0}))}
    assert rows["leaks"].verdict == "regression" and rows["leaks"].change == "+3"
    assert rows["pull_docs_per_s"].verdict == "" and rows["pull_docs_per_s"].change == "="
    assert rows["misses"].change == "-"


def _sample(t: float, states: dict[str, int], pulled: float, **extra: Any) -> dict[str, Any]:
    return {"t": t, "states": states, "wakes": 0, "arrivals": 0, "pulled": pulled, "pushed": 0.0, **extra}


def test_samples_of_two_workers_sum_on_one_grid() -> None:
    w0 = [_sample(100.0, {"suspended": 2}, 0), _sample(101.0, {"suspended": 1, "awake": 1}, 5),
          _sample(102.0, {"suspended": 2}, 8, gateway_pulled=8.0)]
    w1 = [_sample(100.5, {"foreground": 3}, 0), _sample(101.5, {"foreground": 3}, 10)]
    series = merge_samples([w0, w1])
    assert series.t == [0.0, 1.0, 2.0]
    assert list(series.states) == ["foreground", "awake", "suspended"]  # stacking order of the lifecycle
    assert series.states["suspended"] == [2, 1, 2]
    assert series.states["foreground"] == [0, 3, 3]  # worker 1 had not sampled yet at t=0
    assert series.counters["pulled"] == [0, 5, 18]
    assert series.rate("pulled") == [0.0, 5.0, 13.0]
    assert series.counters["gateway_pulled"] == [0, 0, 8]


def test_no_samples_is_an_empty_series() -> None:
    assert merge_samples([[], []]).t == []
