"""The app lifecycle, driven by hand with a fixed random source."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from rig.device.lifecycle import (
    AppState,
    CutSync,
    Edit,
    Lifecycle,
    StartContinuous,
    StartWake,
    StopSync,
    Trigger,
)
from rig.device.profile import find_profile


def _machine(name: str = "ios-active", scale: float = 1.0, seed: int = 7) -> Lifecycle:
    return Lifecycle(find_profile(name), random.Random(seed), scale)


def test_foreground_runs_continuous_then_grace_then_suspends() -> None:
    life = _machine()
    assert life.start(0.0) == [StartContinuous()]
    assert life.state is AppState.FOREGROUND
    session_end = life.timers["session_end"]
    assert life.advance(session_end) in ([], [Edit()]) or life.state is AppState.BACKGROUND
    life.advance(session_end)
    assert life.state is AppState.BACKGROUND
    grace = life.profile.background.grace_seconds
    assert life.advance(session_end + grace - 0.01) == []
    assert life.advance(session_end + grace) == [StopSync()]
    assert life.state is AppState.SUSPENDED


def test_refresh_wakes_with_the_real_budget_and_sleeps_after_catching_up() -> None:
    life = _machine(scale=60.0)
    life.start(0.0, AppState.SUSPENDED)
    due = life.timers["refresh"]
    # A 15-minute floor compressed 60x is 15 s; the 30 s budget stays real.
    assert due >= 15 * 60 / 60.0
    life.timers.pop("memory_kill", None)
    life.timers.pop("force_quit", None)
    life.timers.pop("user_opens", None)
    assert life.advance(due) == [StartWake(Trigger.REFRESH, 30.0)]
    assert life.state is AppState.AWAKE
    assert life.timers["budget"] == pytest.approx(due + 30.0)
    life.sync_finished(due + 2.0, ok=True)
    assert life.state is AppState.SUSPENDED
    wake = life.wakes[-1]
    assert (wake.trigger, wake.caught_up, wake.overrun, wake.ended) == (Trigger.REFRESH, True, False, due + 2.0)


def test_overrun_kills_ios_and_penalises_the_next_refresh() -> None:
    life = _machine()
    life.start(0.0, AppState.SUSPENDED)
    life.push_delivered(10.0)
    assert life.state is AppState.AWAKE
    assert life.advance(40.0) == [CutSync("budget overrun")]
    assert life.state is AppState.TERMINATED
    assert life.wakes[-1].overrun
    assert life._penalty == 2.0


def test_android_overrun_stops_the_worker_but_keeps_the_process() -> None:
    life = _machine("android-active")
    life.start(0.0, AppState.SUSPENDED)
    life.push_delivered(1.0)
    assert life.advance(1.0 + life.profile.push.budget_seconds) == [CutSync("budget overrun")]
    assert life.state is AppState.SUSPENDED


def test_force_quit_refuses_pushes_until_the_user_opens_the_app() -> None:
    life = _machine()
    life.start(0.0, AppState.SUSPENDED)
    life.user_force_quits(1.0)
    assert life.state is AppState.FORCE_QUIT
    assert "refresh" not in life.timers
    assert not life.accepts_push()
    assert life.push_delivered(2.0) == []
    assert life.pushes_refused == 1
    assert life.user_opens_app(3.0) == [StartContinuous()]
    assert life.accepts_push()


def test_a_push_wakes_a_terminated_app_but_not_a_running_one() -> None:
    life = _machine()
    life.start(0.0)
    assert life.push_delivered(1.0) == []
    assert life.state is AppState.FOREGROUND
    life.user_force_quits(2.0)
    life.user_opens_app(3.0)
    life.advance(life.timers["session_end"])
    life.advance(life.timers["grace_end"])
    life._to_sleep(100.0, AppState.TERMINATED)
    assert life.push_delivered(101.0) == [StartWake(Trigger.PUSH, 30.0)]


def test_time_scale_compresses_sessions_not_budgets() -> None:
    slow, fast = _machine(seed=3), _machine(scale=100.0, seed=3)
    slow.start(0.0)
    fast.start(0.0)
    assert fast.timers["session_end"] == pytest.approx(slow.timers["session_end"] / 100.0)
    assert slow.profile.background.grace_seconds == fast.profile.background.grace_seconds


def test_edits_follow_the_profile_rate() -> None:
    profile = find_profile("windows-ac")
    life = Lifecycle(replace(profile, foreground=replace(profile.foreground, edits_per_minute=60.0)),
                     random.Random(1), 1.0)
    life.start(0.0)
    life.timers["session_end"] = 1e9
    edits = sum(1 for t in range(1, 601) for action in life.advance(float(t)) if isinstance(action, Edit))
    assert 450 <= edits <= 750  # one a second on average over ten minutes


def test_a_foreground_replication_that_stopped_stays_stopped_until_the_app_is_opened_again() -> None:
    """Couchbase Lite retries transient errors inside the replicator; one that stopped (a normal close
    by the gateway, refused credentials) is not started again until the app starts it (next launch)."""
    life = _machine()
    life.start(0.0)
    assert life.sync_finished(10.0, ok=False) == []
    session_end = life.timers["session_end"]
    actions = []
    for second in range(11, int(session_end)):
        actions += life.advance(float(second))
    assert StartContinuous() not in actions
    assert life.state is AppState.FOREGROUND and "retry" not in life.timers
