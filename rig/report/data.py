"""A finished run directory read back: its summary, every wake and arrival, and the time series the
load processes sampled (merged across workers onto one clock)."""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig._errors import ConfigError
from rig.device.measure import Measurements
from rig.runfiles import merge

STATES = ("foreground", "background", "awake", "suspended", "terminated", "force_quit")
"""Lifecycle states in the order the report stacks them."""
_COUNTERS = ("wakes", "arrivals", "pulled", "pushed", "gateway_pushed", "gateway_pulled")


@dataclass
class Series:
    """Samples of the whole run on a common grid: seconds since the first sample, and per-name values."""

    t: list[float] = field(default_factory=list)
    states: dict[str, list[float]] = field(default_factory=dict)
    counters: dict[str, list[float]] = field(default_factory=dict)
    """Cumulative counts (wakes, arrivals, documents pulled and pushed, the gateway's counters)."""

    def rate(self, name: str) -> list[float]:
        """Per-second rate of a cumulative counter between consecutive grid points (first point 0)."""
        values = self.counters.get(name, [])
        rates = [0.0]
        for i in range(1, len(values)):
            dt = self.t[i] - self.t[i - 1]
            grown = values[i] - values[i - 1]
            if grown < 0:  # the gateway restarted: its counters start again from zero
                grown = values[i]
            rates.append(grown / dt if dt > 0 else 0.0)
        return rates[:len(values)]


@dataclass
class RunData:
    path: Path
    summary: dict[str, Any]
    measurements: Measurements
    series: Series
    started_at: float

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def figures(self) -> dict[str, float]:
        figures: dict[str, float] = self.summary.get("figures", {})
        return figures


def load_run(run_dir: Path) -> RunData:
    run_dir = Path(run_dir)
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise ConfigError(f"{run_dir} is not a finished run: {summary_path.name} is missing "
                          "(`rig run` writes it at the end of a run)")
    summary: dict[str, Any] = json.loads(summary_path.read_text())
    measurements, _ = merge(run_dir, float(summary.get("time_scale", 1.0)))
    workers = [json.loads(p.read_text()) for p in sorted(run_dir.glob("worker-*.json"))]
    series = merge_samples([w.get("samples", []) for w in workers])
    first = min((s["t"] for w in workers for s in w.get("samples", [])[:1]), default=None)
    started = float(first if first is not None else summary.get("started_at", 0.0))
    return RunData(run_dir, summary, measurements, series, started)


def merge_samples(per_worker: list[list[dict[str, Any]]], step_s: float = 1.0,
                  max_points: int = 20_000) -> Series:
    """Each worker's samples carried forward onto a grid of `step_s` and summed across workers."""
    workers = [sorted(samples, key=lambda s: s["t"]) for samples in per_worker if samples]
    if not workers:
        return Series()
    start = min(w[0]["t"] for w in workers)
    end = max(w[-1]["t"] for w in workers)
    points = min(max_points, int((end - start) / step_s) + 1)
    grid = [start + i * step_s for i in range(points)]
    if end - grid[-1] > step_s / 2:
        grid.append(end)
    elif len(grid) > 1:
        grid[-1] = end  # the last sample (taken when the process stopped) lands on the last point
    series = Series(t=[round(g - start, 3) for g in grid])
    states = sorted({state for w in workers for s in w for state in s.get("states", {})},
                    key=lambda s: (STATES.index(s) if s in STATES else len(STATES), s))
    series.states = {state: [0.0] * len(grid) for state in states}
    series.counters = {name: [0.0] * len(grid) for name in _COUNTERS
                       if any(name in s for w in workers for s in w)}
    for samples in workers:
        times = [s["t"] for s in samples]
        last_known: dict[str, float] = {}
        for i, when in enumerate(grid):
            index = bisect_right(times, when + 1e-6) - 1
            if index < 0:
                continue
            sample = samples[index]
            for state, count in sample.get("states", {}).items():
                series.states[state][i] += count
            for name, values in series.counters.items():
                # A gateway that did not answer (killed, paused) left no value: keep the last one,
                # so the outage reads as no growth rather than as a restart from zero.
                last_known[name] = float(sample.get(name, last_known.get(name, 0.0)))
                values[i] += last_known[name]
    return series
