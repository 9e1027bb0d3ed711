"""How an app lives on a phone: a pure state machine with an injected random source.

Time is passed in (`now`, monotonic seconds); the machine keeps named timers
and answers with actions for the driver. OS intervals (sessions, refresh gaps,
kill hazards, edit pauses) are divided by `time_scale`; budgets, the
backgrounding grace period and network time stay real.

    FOREGROUND --session ends--> BACKGROUND --grace ends--> SUSPENDED
    SUSPENDED --app refresh / silent push--> AWAKE --caught up--> SUSPENDED
    AWAKE --budget overrun--> TERMINATED (iOS, Windows) or SUSPENDED (Android stops the worker)
    SUSPENDED --memory pressure--> TERMINATED      SUSPENDED --user swipes away--> FORCE_QUIT
    SUSPENDED | TERMINATED | FORCE_QUIT --user opens the app--> FOREGROUND
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum

from rig.device.profile import DeviceProfile

_MAX_PENALTY = 24 * 3600.0


class AppState(Enum):
    FOREGROUND = "foreground"
    BACKGROUND = "background"
    SUSPENDED = "suspended"
    AWAKE = "awake"
    TERMINATED = "terminated"
    FORCE_QUIT = "force_quit"


class Trigger(Enum):
    REFRESH = "refresh"
    PUSH = "push"
    FOREGROUND = "foreground"


@dataclass(frozen=True, slots=True)
class StartContinuous:
    """Foreground: continuous push and pull."""


@dataclass(frozen=True, slots=True)
class StopSync:
    """End the replication cleanly (saving the checkpoint)."""


@dataclass(frozen=True, slots=True)
class StartWake:
    """A background wake: one-shot push and pull within `budget` seconds."""

    trigger: Trigger
    budget: float


@dataclass(frozen=True, slots=True)
class CutSync:
    """The OS kills the app: the replication is cut mid-flight."""

    reason: str


@dataclass(frozen=True, slots=True)
class Edit:
    """The user changes a document."""


Action = StartContinuous | StopSync | StartWake | CutSync | Edit


@dataclass(slots=True)
class WakeRecord:
    trigger: Trigger
    started: float
    ended: float | None = None
    caught_up: bool = False
    overrun: bool = False


@dataclass(slots=True)
class Lifecycle:
    profile: DeviceProfile
    rng: random.Random
    time_scale: float = 1.0
    state: AppState = AppState.SUSPENDED
    timers: dict[str, float] = field(default_factory=dict)
    wakes: list[WakeRecord] = field(default_factory=list)
    transitions: list[tuple[float, AppState]] = field(default_factory=list)
    pushes_refused: int = 0
    _penalty: float = 1.0

    # Time helpers ------------------------------------------------------------------------------
    def _os(self, seconds: float) -> float:
        """An OS or user interval, compressed by the time scale."""
        return seconds / self.time_scale

    def _hazard(self, per_hour: float) -> float | None:
        if per_hour <= 0:
            return None
        return self._os(self.rng.expovariate(per_hour / 3600.0))

    def next_due(self) -> float | None:
        return min(self.timers.values(), default=None)

    # Entering states ---------------------------------------------------------------------------
    def _enter(self, state: AppState, now: float) -> None:
        self.state = state
        self.transitions.append((now, state))
        self.timers.clear()

    def start(self, now: float, state: AppState = AppState.FOREGROUND) -> list[Action]:
        """Begin life in `state` (FOREGROUND: the user opened the app; SUSPENDED: installed, asleep)."""
        if state is AppState.FOREGROUND:
            return self._to_foreground(now)
        self._to_sleep(now, state)
        return []

    def _to_foreground(self, now: float) -> list[Action]:
        self._enter(AppState.FOREGROUND, now)
        fg = self.profile.foreground
        self.timers["session_end"] = now + self._os(fg.session_minutes.sample(self.rng) * 60)
        self._schedule_edit(now)
        self.wakes.append(WakeRecord(Trigger.FOREGROUND, now))
        return [StartContinuous()]

    def _schedule_edit(self, now: float) -> None:
        rate = self.profile.foreground.edits_per_minute
        if rate > 0:
            self.timers["edit"] = now + self._os(self.rng.expovariate(rate / 60.0))

    def _to_sleep(self, now: float, state: AppState) -> None:
        self._enter(state, now)
        bg = self.profile.background
        self.timers["user_opens"] = now + self._os(bg.session_minutes.sample(self.rng) * 60)
        if state is AppState.FORCE_QUIT:
            return
        refresh = self.profile.refresh
        if refresh.enabled:
            gap = max(refresh.floor_minutes, refresh.gap_minutes.sample(self.rng)) * 60
            self.timers["refresh"] = now + self._os(min(gap * self._penalty, _MAX_PENALTY))
        if state is AppState.SUSPENDED:
            kill = self._hazard(self.profile.kill.background_per_hour)
            if kill is not None:
                self.timers["memory_kill"] = now + kill
        quit_after = self._hazard(self.profile.kill.force_quit_per_hour)
        if quit_after is not None:
            self.timers["force_quit"] = now + quit_after

    def _wake(self, now: float, trigger: Trigger, budget: float) -> list[Action]:
        self._enter(AppState.AWAKE, now)
        self.timers["budget"] = now + budget
        self.wakes.append(WakeRecord(trigger, now))
        return [StartWake(trigger, budget)]

    # Inputs ------------------------------------------------------------------------------------
    def advance(self, now: float) -> list[Action]:
        """Fire every timer due at `now`."""
        actions: list[Action] = []
        while True:
            due = [(t, name) for name, t in self.timers.items() if t <= now]
            if not due:
                return actions
            at, name = min(due)
            del self.timers[name]
            # Fire at the timer's own time, so late polling never stretches the schedule.
            actions.extend(self._fire(name, at))

    def _fire(self, name: str, now: float) -> list[Action]:
        if name == "edit":
            self._schedule_edit(now)
            return [Edit()]
        if name == "session_end":
            self._enter(AppState.BACKGROUND, now)
            self.timers["grace_end"] = now + self.profile.background.grace_seconds
            self._close_wake(now, caught_up=True)
            return []
        if name == "grace_end":
            self._to_sleep(now, AppState.SUSPENDED)
            return [StopSync()]
        if name == "user_opens":
            return self._to_foreground(now)
        if name == "refresh":
            return self._wake(now, Trigger.REFRESH, self.profile.refresh.budget_seconds)
        if name == "memory_kill":
            self._to_sleep(now, AppState.TERMINATED)
            return []
        if name == "force_quit":
            self._to_sleep(now, AppState.FORCE_QUIT)
            return []
        if name == "budget":
            return self._overrun(now)
        return []

    def _overrun(self, now: float) -> list[Action]:
        self._close_wake(now, caught_up=False, overrun=True)
        self._penalty = min(self._penalty * self.profile.refresh.overrun_penalty, _MAX_PENALTY)
        # iOS and Windows kill an app that overruns; Android stops the worker and keeps the process.
        after = AppState.SUSPENDED if self.profile.platform == "android" else AppState.TERMINATED
        self._to_sleep(now, after)
        return [CutSync("budget overrun")]

    def _close_wake(self, now: float, *, caught_up: bool, overrun: bool = False) -> None:
        if self.wakes and self.wakes[-1].ended is None:
            wake = self.wakes[-1]
            wake.ended, wake.caught_up, wake.overrun = now, caught_up, overrun

    def accepts_push(self) -> bool:
        """Whether a silent push would reach the app now (never after a force-quit)."""
        return self.profile.push.enabled and self.state is not AppState.FORCE_QUIT

    def push_delivered(self, now: float) -> list[Action]:
        if not self.accepts_push():
            self.pushes_refused += 1
            return []
        if self.state in (AppState.SUSPENDED, AppState.TERMINATED):
            return self._wake(now, Trigger.PUSH, self.profile.push.budget_seconds)
        return []  # awake or in the foreground: the running sync brings the data

    def sync_finished(self, now: float, *, ok: bool) -> list[Action]:
        if self.state is AppState.AWAKE:
            self._close_wake(now, caught_up=ok)
            self._to_sleep(now, AppState.SUSPENDED)
        # In the foreground a failed replication stays stopped until the app starts it again (the
        # next launch): Couchbase Lite retries only transient errors, inside the replicator (runner).
        return []

    def user_opens_app(self, now: float) -> list[Action]:
        """The user launches or reopens the app (also after a force-quit)."""
        if self.state is AppState.FOREGROUND:
            return []
        actions: list[Action] = [CutSync("relaunch")] if self.state is AppState.AWAKE else []
        return actions + self._to_foreground(now)

    def user_force_quits(self, now: float) -> list[Action]:
        actions: list[Action] = [CutSync("force quit")] if self.state in (AppState.AWAKE, AppState.FOREGROUND,
                                                                          AppState.BACKGROUND) else []
        self._close_wake(now, caught_up=False)
        self._to_sleep(now, AppState.FORCE_QUIT)
        return actions
