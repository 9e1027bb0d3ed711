"""The saturation sampler with an injected clock: CPU ratio, loop lag, onset, summaries and their merge."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from rig.metrics.saturation import (
    PROBE_S,
    SaturationCollector,
    SaturationMonitor,
    SaturationTracker,
    Tick,
    merge_summaries,
    onset_warning,
)


class FakeProcess:
    """A clock, a CPU-time counter and a sleep that advances the clock (by more when the loop lags)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.cpu = 0.0
        self.busy = 0.0
        """CPU seconds the process uses per wall second."""
        self.late = 0.0
        """How late each sleep wakes."""
        self.waiting = 0.0
        """Seconds per wall second the process's threads wait for a core."""
        self.waited = 0.0

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    def cpu_time(self) -> float:
        return self.cpu

    def sleep(self, seconds: float) -> None:
        took = seconds + self.late
        self.now += took
        self.cpu += took * self.busy
        self.waited += took * self.waiting

    def run_queue_wait(self) -> float:
        return self.waited


def _monitor(fake: FakeProcess, onsets: list[tuple[str, Tick]] | None = None, **limits: float) -> SaturationMonitor:
    tracker = SaturationTracker("worker-0", on_onset=(lambda p, t: onsets.append((p, t))) if onsets is not None
                                else None, **limits)
    monitor = SaturationMonitor(tracker, clock=fake.clock, wall=fake.wall, cpu_time=fake.cpu_time, sleep=fake.sleep,
                                run_queue_wait=fake.run_queue_wait)
    monitor.begin()
    return monitor


def _run(monitor: SaturationMonitor, probes: int) -> list[Tick]:
    return [t for t in (monitor.step() for _ in range(probes)) if t is not None]


def test_an_idle_process_is_not_saturated() -> None:
    fake = FakeProcess()
    fake.busy = 0.2
    monitor = _monitor(fake)
    ticks = _run(monitor, 50)  # 5 s of 0.1 s probes
    assert len(ticks) == 5
    assert all(abs(t.cpu_ratio - 0.2) < 1e-9 and t.loop_lag_s < 1e-9 and not t.saturated for t in ticks)
    summary = monitor.tracker.summary()
    assert summary["saturated"] is False and summary["saturated_seconds"] == 0
    assert summary["cpu_ratio_max"] == 0.2 and summary["cpu_ratio_mean"] == 0.2
    assert summary["windows"] == []


def test_a_busy_stretch_is_saturated_and_its_onset_reported_once() -> None:
    fake = FakeProcess()
    onsets: list[tuple[str, Tick]] = []
    monitor = _monitor(fake, onsets)
    fake.busy = 0.3
    _run(monitor, 20)
    fake.busy = 0.97  # the GIL's core, used up
    busy = _run(monitor, 30)
    fake.busy = 0.3
    _run(monitor, 20)
    assert [t.saturated for t in busy] == [True, True, True]
    assert len(onsets) == 1 and onsets[0][0] == "worker-0" and onsets[0][1].cpu_ratio > 0.9
    summary = monitor.tracker.summary()
    assert summary["saturated"] is True
    assert abs(summary["saturated_seconds"] - 3.0) < 0.01
    assert summary["cpu_ratio_max"] == 0.97
    assert len(summary["windows"]) == 1
    start, end = summary["windows"][0]
    assert abs((end - start) - 3.0) < 0.01
    assert "worker-0 used 0.97 of a core" in onset_warning(*onsets[0])


def test_a_late_loop_is_saturated_even_when_the_cpu_ratio_is_low() -> None:
    """A process starved of a core on a shared machine: little CPU, but every timer fires late."""
    fake = FakeProcess()
    monitor = _monitor(fake)
    fake.busy = 0.4
    fake.late = 0.6
    ticks = _run(monitor, 6)
    assert ticks and all(t.saturated for t in ticks)
    assert abs(ticks[0].loop_lag_s - 0.6) < 1e-9 and ticks[0].cpu_ratio < 0.5


def test_the_wait_for_a_core_tells_a_busy_machine_from_a_busy_rig() -> None:
    fake = FakeProcess()
    onsets: list[tuple[str, Tick]] = []
    monitor = _monitor(fake, onsets)
    fake.busy, fake.late, fake.waiting = 0.2, 0.7, 0.6
    ticks = _run(monitor, 12)
    assert ticks and abs((ticks[0].wait_ratio or 0.0) - 0.6) < 1e-9
    assert "waited 0.60 s of that second for a core" in onset_warning(*onsets[0])
    summary = monitor.tracker.summary()
    assert summary["wait_ratio_max"] == 0.6 and summary["wait_ratio_mean"] == 0.6
    assert merge_summaries([summary])["wait_ratio_max"] == 0.6


def test_the_thresholds_are_parameters() -> None:
    fake = FakeProcess()
    fake.busy = 0.5
    strict = _monitor(fake, cpu_threshold=0.4)
    assert all(t.saturated for t in _run(strict, 20))
    lenient = _monitor(fake, cpu_threshold=0.95, lag_threshold_s=1.0)
    fake.late = 0.5
    assert not any(t.saturated for t in _run(lenient, 10))


def test_a_short_last_interval_is_not_judged() -> None:
    tracker = SaturationTracker("master")
    tracker.observe(0.0, 0.0, 0.0, 100.0)
    tick = tracker.observe(0.2, 0.2, 0.0, 100.2)  # 100 % of a core, but for 0.2 s only
    assert tick is not None and not tick.saturated
    assert tracker.summary()["seconds_measured"] == 0


def test_ticks_come_once_a_second_of_probes() -> None:
    fake = FakeProcess()
    monitor = _monitor(fake)
    ticks = _run(monitor, round(3.0 / PROBE_S))
    assert len(ticks) == 3
    assert all(abs(t.seconds - 1.0) < 1e-6 for t in ticks)


def test_merge_unions_the_saturated_stretches_of_processes() -> None:
    def part(name: str, windows: list[list[float]], cpu_max: float, lag: float) -> dict[str, object]:
        seconds = sum(b - a for a, b in windows)
        return {"process": name, "saturated": bool(windows), "saturated_seconds": seconds, "cpu_ratio_max": cpu_max,
                "cpu_ratio_mean": cpu_max / 2, "loop_lag_p99_s": lag, "seconds_measured": 10.0,
                "windows": windows, "cpu_threshold": 0.9, "lag_threshold_s": 0.5, "processes": 1}

    merged = merge_summaries([part("master", [], 0.1, 0.001), part("worker-0", [[10.0, 14.0]], 0.95, 0.2),
                              part("worker-1", [[12.0, 16.0], [20.0, 21.0]], 0.99, 0.3), None])
    assert merged["saturated"] is True
    assert merged["saturated_seconds"] == 7.0  # 10-16 and 20-21, overlap counted once
    assert merged["cpu_ratio_max"] == 0.99 and merged["loop_lag_p99_s"] == 0.3
    assert merged["processes"] == 3
    assert merged["saturated_processes"] == ["worker-0", "worker-1"]
    assert abs(merged["cpu_ratio_mean"] - (0.05 + 0.475 + 0.495) / 3) < 1e-3
    calm = merge_summaries([part("worker-0", [], 0.2, 0.001)])
    assert calm["saturated"] is False and calm["saturated_seconds"] == 0


def test_gauges_carry_the_process_label_only() -> None:
    fake = FakeProcess()
    fake.busy = 0.5
    monitor = _monitor(fake)
    _run(monitor, 10)
    registry = CollectorRegistry()
    registry.register(SaturationCollector(lambda: [monitor]))
    text = generate_latest(registry).decode()
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert set(values) == {'rig_process_cpu_ratio{process="worker-0"}', 'rig_loop_lag_seconds{process="worker-0"}'}
    assert abs(values['rig_process_cpu_ratio{process="worker-0"}'] - 0.5) < 1e-9
    assert values['rig_loop_lag_seconds{process="worker-0"}'] < 1e-9
