"""Is the rig itself the bottleneck? Each load process measures, every second, its CPU use and its
event-loop lag, and says when it was saturated.

- CPU ratio: the process's CPU time (all its threads) over wall time, per interval. Python runs
  bytecode on one core at a time (the GIL), so a process at >= ~0.9 of one core for a sustained
  second has no headroom left: what it measures from then on is its own ceiling.
- Loop lag: how late a 0.1 s sleep wakes up. Under gevent (`rig run`, where locust patches
  `time.sleep` and `threading`) the probe is a greenlet and its lateness is the hub's lag: every
  device's timers and reads are that late too. In a bench (real threads) it is the wait for the
  GIL and a core.

Beside them, where Linux tells (`/proc/self/task/*/schedstat`), the share of the second the
process's threads spent runnable but waiting for a core (`wait_ratio`): a late loop with a high
wait ratio is a machine busy with other work, not a rig busy with its own.

A second counts as saturated when its CPU ratio reaches `cpu_threshold` or its worst probe was
`lag_threshold_s` late. `SaturationTracker` judges (pure: values in, ticks out);
`SaturationMonitor` measures (clock, sleep and CPU time injectable); `merge_summaries` folds the
summaries of a run's processes into the `rig` section of summary.json.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from rig.device.measure import percentile

CPU_THRESHOLD = 0.9
"""Of one core: the GIL's limit, less a margin for the sampling's own jitter."""
LAG_THRESHOLD_S = 0.5
"""A 0.1 s timer half a second late: every device's I/O waits that long, whatever the CPU says
(a process starved of a core on a shared machine is as much the bottleneck as a busy one)."""
PROBE_S = 0.1
TICK_S = 1.0
MIN_JUDGED_S = 0.5
"""Intervals shorter than this (a last partial one) are too noisy to call saturated."""
MAX_TICKS = 100_000
MAX_WINDOWS = 1_000
MAX_SERIES = 3_600
"""Per-second points kept in a process's summary (an hour; the totals cover the whole run)."""


@dataclass(frozen=True, slots=True)
class Tick:
    """One interval of one process: when it ended (epoch seconds), how long it was, what it used."""

    at: float
    seconds: float
    cpu_ratio: float
    loop_lag_s: float
    saturated: bool
    wait_ratio: float | None = None
    """Of the interval, how long the process's threads waited for a core (summed over threads)."""


class SaturationTracker:
    """Judges a process's intervals and keeps what its summary needs (bounded)."""

    def __init__(self, process: str, *, cpu_threshold: float = CPU_THRESHOLD,
                 lag_threshold_s: float = LAG_THRESHOLD_S,
                 on_onset: Callable[[str, Tick], None] | None = None) -> None:
        self.process = process
        self.cpu_threshold = cpu_threshold
        self.lag_threshold_s = lag_threshold_s
        self.on_onset = on_onset
        """Called with (process, tick) when saturation starts (the first saturated tick after none)."""
        self.ticks: list[Tick] = []
        self.windows: list[list[float]] = []
        """[start, end] epoch seconds of saturated stretches, adjacent ones joined."""
        self.saturated_seconds = 0.0
        self._base: tuple[float, float, float | None] | None = None

    @property
    def latest(self) -> Tick | None:
        return self.ticks[-1] if self.ticks else None

    def observe(self, monotonic: float, cpu_s: float, loop_lag_s: float, wall: float,
                waited_s: float | None = None) -> Tick | None:
        """The process's CPU seconds, worst probe lateness and (if known) seconds its threads waited
        for a core, at `monotonic`; the first call is the baseline."""
        if self._base is None:
            self._base = (monotonic, cpu_s, waited_s)
            return None
        then, cpu_then, waited_then = self._base
        seconds = monotonic - then
        if seconds <= 0:
            return None
        self._base = (monotonic, cpu_s, waited_s)
        ratio = max(0.0, cpu_s - cpu_then) / seconds
        wait = None if waited_s is None or waited_then is None else max(0.0, waited_s - waited_then) / seconds
        judged = seconds >= MIN_JUDGED_S
        saturated = judged and (ratio >= self.cpu_threshold or loop_lag_s >= self.lag_threshold_s)
        tick = Tick(wall, seconds, ratio, max(0.0, loop_lag_s), saturated, wait)
        was = self.ticks[-1].saturated if self.ticks else False
        if len(self.ticks) < MAX_TICKS:
            self.ticks.append(tick)
        if saturated:
            self.saturated_seconds += seconds
            self._extend_window(wall - seconds, wall)
            if not was and self.on_onset is not None:
                self.on_onset(self.process, tick)
        return tick

    def _extend_window(self, start: float, end: float) -> None:
        if self.windows and start - self.windows[-1][1] <= 0.5:
            self.windows[-1][1] = end
        elif len(self.windows) < MAX_WINDOWS:
            self.windows.append([start, end])

    def summary(self) -> dict[str, Any]:
        judged = [t for t in self.ticks if t.seconds >= MIN_JUDGED_S]
        wall = sum(t.seconds for t in judged)
        lags = [t.loop_lag_s for t in judged]
        waits = [t for t in judged if t.wait_ratio is not None]
        waited = sum(t.seconds for t in waits)
        # series: [end of the tick (epoch s), CPU ratio, loop lag s, wait ratio, tick length s]; CPU
        # seconds over any stretch of the run are the ratio times the length summed over its ticks.
        return {"process": self.process, "saturated": self.saturated_seconds > 0,
                "saturated_seconds": round(self.saturated_seconds, 2),
                "cpu_ratio_max": round(max((t.cpu_ratio for t in judged), default=0.0), 3),
                "cpu_ratio_mean": round(sum(t.cpu_ratio * t.seconds for t in judged) / wall, 3) if wall else 0.0,
                "loop_lag_p99_s": round(percentile(lags, 99) or 0.0, 4),
                "loop_lag_max_s": round(max(lags, default=0.0), 4),
                "wait_ratio_max": round(max((t.wait_ratio or 0.0 for t in waits), default=0.0), 3) if waits else None,
                "wait_ratio_mean": round(sum((t.wait_ratio or 0.0) * t.seconds for t in waits) / waited, 3)
                if waited else None,
                "seconds_measured": round(wall, 1), "windows": [[round(a, 2), round(b, 2)] for a, b in self.windows],
                "cpu_threshold": self.cpu_threshold, "lag_threshold_s": self.lag_threshold_s, "processes": 1,
                "series": [[round(t.at, 2), round(t.cpu_ratio, 3), round(t.loop_lag_s, 4),
                            None if t.wait_ratio is None else round(t.wait_ratio, 3), round(t.seconds, 3)]
                           for t in self.ticks[:MAX_SERIES]]}


class SaturationMonitor:
    """Measures one process every `tick_s` on a daemon thread (a greenlet under gevent) until stopped.

    The thread sleeps `PROBE_S` at a time and notes how late each sleep wakes; every `tick_s` it
    hands the tracker the process's CPU time and the worst lateness since the last tick."""

    def __init__(self, tracker: SaturationTracker, *, tick_s: float = TICK_S,
                 clock: Callable[[], float] | None = None, wall: Callable[[], float] | None = None,
                 cpu_time: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None,
                 run_queue_wait: Callable[[], float | None] | None = None) -> None:
        self.tracker = tracker
        self.tick_s = tick_s
        # Looked up at call time, not bound here: under gevent `time.sleep` is patched after import.
        self._clock = clock or (lambda: time.monotonic())
        self._wall = wall or (lambda: time.time())
        self._cpu = cpu_time or (lambda: time.process_time())
        self._sleep = sleep or (lambda seconds: time.sleep(seconds))
        self._waited = run_queue_wait or run_queue_wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._worst = 0.0
        self._next_tick = 0.0

    def begin(self) -> None:
        """The baseline (what `start` does first; tests call it and `step` directly)."""
        now = self._clock()
        self.tracker.observe(now, self._cpu(), 0.0, self._wall(), self._waited())
        self._worst = 0.0
        self._next_tick = now + self.tick_s

    def step(self) -> Tick | None:
        """One probe: sleep PROBE_S, note its lateness; a tick when one is due."""
        before = self._clock()
        self._sleep(PROBE_S)
        now = self._clock()
        self._worst = max(self._worst, now - before - PROBE_S)
        if now < self._next_tick:
            return None
        tick = self.tracker.observe(now, self._cpu(), self._worst, self._wall(), self._waited())
        self._worst = 0.0
        self._next_tick = max(self._next_tick + self.tick_s, now + self.tick_s / 2)
        return tick

    def start(self) -> SaturationMonitor:
        self.begin()
        self._thread = threading.Thread(target=self._loop, name="rig-saturation", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set() and len(self.tracker.ticks) < MAX_TICKS:
            self.step()

    def stop(self) -> dict[str, Any]:
        """Stop measuring; this process's summary."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            if not self._thread.is_alive():  # the last part-second too (judged when at least MIN_JUDGED_S)
                self.tracker.observe(self._clock(), self._cpu(), self._worst, self._wall(), self._waited())
            self._thread = None
        return self.tracker.summary()


def run_queue_wait_seconds(pid: int | None = None) -> float | None:
    """Seconds this process's (or `pid`'s) threads have spent runnable but waiting for a core (Linux
    schedstat), or None where the kernel does not say."""
    total = 0
    proc = "self" if pid is None else str(pid)
    try:
        tasks = os.listdir(f"/proc/{proc}/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/{proc}/task/{task}/schedstat") as handle:
                total += int(handle.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def monitor(process: str, *, cpu_threshold: float = CPU_THRESHOLD, lag_threshold_s: float = LAG_THRESHOLD_S,
            on_onset: Callable[[str, Tick], None] | None = None) -> SaturationMonitor:
    """A started monitor of this process."""
    return SaturationMonitor(SaturationTracker(process, cpu_threshold=cpu_threshold,
                                               lag_threshold_s=lag_threshold_s, on_onset=on_onset)).start()


def _union_seconds(windows: Iterable[list[float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(windows):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def merge_summaries(summaries: Iterable[dict[str, Any] | None]) -> dict[str, Any]:
    """The run's `rig` section: saturated if any process was; saturated seconds is the union of
    their saturated stretches (wall time during which at least one process was saturated)."""
    parts = [s for s in summaries if s]
    windows = [w for s in parts for w in s.get("windows", [])]
    seconds = _union_seconds(windows) if windows else max((float(s["saturated_seconds"]) for s in parts),
                                                          default=0.0)
    measured = sum(float(s.get("seconds_measured", 0.0)) for s in parts)
    return {"saturated": any(s["saturated"] for s in parts), "saturated_seconds": round(seconds, 2),
            "cpu_ratio_max": max((float(s["cpu_ratio_max"]) for s in parts), default=0.0),
            "cpu_ratio_mean": round(sum(float(s["cpu_ratio_mean"]) * float(s.get("seconds_measured", 0.0))
                                        for s in parts) / measured, 3) if measured else 0.0,
            "loop_lag_p99_s": max((float(s["loop_lag_p99_s"]) for s in parts), default=0.0),
            "wait_ratio_max": max((float(s["wait_ratio_max"]) for s in parts if s.get("wait_ratio_max") is not None),
                                  default=None),
            "processes": sum(int(s.get("processes", 1)) for s in parts),
            "saturated_processes": [s["process"] for s in parts if s["saturated"]],
            "cpu_threshold": parts[0]["cpu_threshold"] if parts else CPU_THRESHOLD,
            "lag_threshold_s": parts[0]["lag_threshold_s"] if parts else LAG_THRESHOLD_S,
            "by_process": {s["process"]: {k: s.get(k) for k in ("saturated_seconds", "cpu_ratio_max", "cpu_ratio_mean",
                                                                "loop_lag_p99_s", "wait_ratio_max")} for s in parts}}


def onset_warning(process: str, tick: Tick, since: float | None = None) -> str:
    """The line the CLI prints when a process starts to be saturated."""
    when = "" if since is None else f" {tick.at - since:.0f} s into the run"
    starved = "" if (tick.wait_ratio or 0.0) < 0.25 else (
        f" (its threads waited {tick.wait_ratio:.2f} s of that second for a core: this machine is busy with "
        f"other work too)")
    return (f"WARNING: the rig is saturated: {process} used {tick.cpu_ratio:.2f} of a core with its event loop "
            f"{tick.loop_lag_s:.2f} s late{when}{starved}; from here on the figures measure the rig, not the gateway "
            f"(more processes: --workers auto or N)")


def summary_line(rig: dict[str, Any]) -> str:
    """One line for the end of a run or a bench: was the rig saturated, for how long, how busy."""
    busy = (f"max {rig['cpu_ratio_max']:.2f} of a core (mean {rig['cpu_ratio_mean']:.2f}), "
            f"loop lag p99 {rig['loop_lag_p99_s']:.3f} s over {rig['processes']} process(es)"
            + ("" if rig.get("wait_ratio_max") is None else
               f", waiting for a core up to {rig['wait_ratio_max']:.2f} of a second"))
    if not rig.get("saturated"):
        return f"rig not saturated: {busy}"
    who = ", ".join(rig.get("saturated_processes") or [])
    return (f"RIG SATURATED for {rig['saturated_seconds']:.1f} s ({who}): {busy}; figures from those seconds "
            f"measure the rig, not the gateway")


class SaturationCollector(Collector):
    """`rig_process_cpu_ratio{process}` and `rig_loop_lag_seconds{process}` from the latest tick of
    this process's monitor (`process` is "master" or "worker-N": one value per process)."""

    def __init__(self, monitors: Callable[[], Iterable[SaturationMonitor]]) -> None:
        self._monitors = monitors

    def collect(self) -> Iterator[GaugeMetricFamily]:
        cpu = GaugeMetricFamily("rig_process_cpu_ratio",
                                "CPU time over wall time of a load process in its last second (1 = one core)",
                                labels=["process"])
        lag = GaugeMetricFamily("rig_loop_lag_seconds",
                                "How late a 0.1 s timer fired in a load process's event loop, worst in its last second",
                                labels=["process"])
        for m in self._monitors():
            tick = m.tracker.latest
            if tick is not None:
                cpu.add_metric([m.tracker.process], tick.cpu_ratio)
                lag.add_metric([m.tracker.process], tick.loop_lag_s)
        yield cpu
        yield lag
