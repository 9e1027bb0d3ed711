"""Drives one device's lifecycle in real time: timers, pushes and syncs in, replications out.

One runner per device, in its own thread (pytest) or greenlet (locust: the
same code once gevent has patched threading). Syncs run in a helper thread so
the lifecycle can cut them when the budget runs out. Given a `loop` (`rig run`'s
default driver), everything runs on the process's one DeviceLoop instead: the
lifecycle's timers, pushes and the user's actions as loop callbacks, replications as
rig.device.loop_sync attempts (the same attempt, retries and result); the runner's
thread or greenlet only waits for the end.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rig._collections import qualified
from rig.device.device import VirtualDevice
from rig.device.lifecycle import (
    Action,
    AppState,
    CutSync,
    Edit,
    Lifecycle,
    StartContinuous,
    StartWake,
    StopSync,
    Trigger,
    WakeRecord,
)
from rig.device.loop import DeviceLoop
from rig.device.loop_sync import LoopSync, SyncHooks
from rig.device.measure import Arrival, Measurements, WakeMeasurement, written_at
from rig.device.profile import DeviceProfile
from rig.replicator import EventKind, ReplicationEvent
from rig.replicator.link import Observer
from rig.replicator.retry import Backoff, RetryPolicy, is_protocol_error, litecore_error

log = logging.getLogger(__name__)

Editor = Callable[[VirtualDevice, random.Random], None]


def default_editor(device: VirtualDevice, rng: random.Random) -> None:
    """The seed app: the user edits one of their profile documents."""
    user = device.credentials.username
    doc_id = f"{user}.profile.{rng.randrange(5)}"
    device.store.put(doc_id, {"type": "profile", "owner": user, "channels": [user],
                              "device": device.name, "written_at": time.time(), "note": rng.random()})


@dataclass(frozen=True, slots=True)
class RetryRecord:
    """One retry scheduled after a failed replication, as Couchbase Lite schedules it."""

    at: float
    """Wall-clock time of the failure."""
    attempt: int
    """1 for the first retry since the last successful connect, 2 for the next, ..."""
    delay_s: float
    """The wait before the retry (2, 4, 8 ... s, at most 300)."""
    error: str
    """What LiteCore would report, e.g. ``WebSocket 1006`` or ``POSIX 111``."""


@dataclass(frozen=True, slots=True)
class _SyncDone:
    token: int
    ok: bool
    pulled: int
    pushed: int
    retries: int = 0


class DeviceRunner:
    def __init__(self, device: VirtualDevice, profile: DeviceProfile, *, rng: random.Random,
                 time_scale: float = 1.0, measurements: Measurements | None = None,
                 editor: Editor = default_editor, observer: Observer | None = None,
                 clock: Callable[[], float] = time.monotonic, loop: DeviceLoop | None = None) -> None:
        self.device = device
        self.loop = loop
        """Replications on this event loop (rig.device.loop) instead of a helper thread each."""
        self._attempt: LoopSync | None = None
        self.profile = profile
        self.rng = rng
        self.lifecycle = Lifecycle(profile, rng, time_scale)
        self.measurements = measurements or Measurements(time_scale)
        self.editor = editor
        self.observer = observer
        """Also told of every replication event (tests, the load engine's metrics)."""
        self._clock = clock
        self._inbox: queue.Queue[object] = queue.Queue()
        self._sync_thread: threading.Thread | None = None
        self._sync_stop = threading.Event()
        self._token = 0
        self._push_delay: float | None = None
        self._current: tuple[WakeRecord | None, float] = (None, 0.0)
        self.errors: list[str] = []
        self.retries = 0
        """Replication attempts started again after a transient error, as Couchbase Lite retries."""
        self.retry_log: list[RetryRecord] = []
        """Every retry scheduled, with its wait (the run's summary reports them per fault)."""
        self.connects = 0
        """WebSocket connections opened (each resets the retry count, as Couchbase Lite)."""
        self.protocol_errors = 0
        """Replications ended by a gateway that broke the protocol (bad frames, nonsense content)."""
        self._on_loop = False
        """The lifecycle lives on `loop` (from `run` on): messages go there, not to the inbox."""
        self._loop_done = False
        self._loop_ended = threading.Event()
        self._armed: float | None = None
        """The earliest lifecycle timer set on the loop."""
        self.acknowledged: list[tuple[str, str]] = []
        """(doc id, revision) of every write the gateway acknowledged: the oracle looks for each. A named
        collection's document as `scope.name/ID` (rig._collections)."""

    # Called from other threads ----------------------------------------------------------------
    def deliver_push(self, sent_at: float) -> None:
        self._post(("push", sent_at))

    def accepts_push(self) -> bool:
        return self.lifecycle.accepts_push()

    def open_app(self) -> None:
        self._post(("open", None))

    def force_quit(self) -> None:
        self._post(("force_quit", None))

    def _post(self, message: object) -> None:
        """A message for the lifecycle: handled on the loop once the runner lives there, else queued."""
        loop = self.loop
        if self._loop_done:
            return  # the run is over: nothing lives the lifecycle any more
        if self._on_loop and loop is not None:
            loop.call_soon_threadsafe(lambda: self._handle(message))
        else:
            self._inbox.put(message)

    # The loop ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, duration: float, start: AppState = AppState.FOREGROUND) -> None:
        """Live the lifecycle for `duration` seconds or until `stop`. Given a `loop` (and the real
        clock, which its timers use), on that loop: timers, pushes and replications all there, the
        calling thread or greenlet only waiting for the end."""
        if self.loop is not None and self._clock is time.monotonic:
            self._run_on_loop(self.loop, stop, duration=duration, start=start)
            return
        now = self._clock()
        end = now + duration
        self._execute(self.lifecycle.start(now, start))
        while not stop.is_set() and now < end:
            due = self.lifecycle.next_due()
            wait = min(end - now, 0.5 if due is None else max(0.0, due - now), 0.5)
            try:
                message = self._inbox.get(timeout=wait) if wait > 0 else self._inbox.get_nowait()
            except queue.Empty:
                message = None
            now = self._clock()
            actions = self._actions_for(message, now) + self.lifecycle.advance(now)
            self._execute(actions)
        self._cut("run ended")
        if self._sync_thread is not None:
            self._sync_thread.join(10)
        if self._attempt is not None:
            self._attempt.finished.wait(10)

    def _actions_for(self, message: object | None, now: float) -> list[Action]:
        """What the lifecycle does about one message (a replication's end, a push, the user)."""
        if isinstance(message, _SyncDone):
            return self._on_sync_done(message, now)
        if isinstance(message, tuple):
            kind, value = message
            if kind == "push":
                before = self.lifecycle.state
                actions = self.lifecycle.push_delivered(now)
                if before is not self.lifecycle.state and isinstance(value, float):
                    self._push_delay = max(0.0, time.time() - value)
                return actions
            if kind == "open":
                return self.lifecycle.user_opens_app(now)
            if kind == "force_quit":
                return self.lifecycle.user_force_quits(now)
        return []

    # On the loop (rig.device.loop) -----------------------------------------------------------
    def _run_on_loop(self, loop: DeviceLoop, stop: threading.Event, *, duration: float, start: AppState) -> None:
        end = self._clock() + duration
        ended = self._loop_ended

        def begin() -> None:
            self._on_loop = True
            self._execute(self.lifecycle.start(self._clock(), start))
            loop.call_at(end, self._end_on_loop)
            self._handle(None)  # what came before, then the first timer
            self._watch_stop(loop, stop)

        loop.call_soon_threadsafe(begin)
        if not ended.wait(max(0.0, end - self._clock()) + 60):  # the loop itself died: end it from here
            self._loop_done = True
            self._cut("run ended")
        if self._attempt is not None:
            self._attempt.finished.wait(10)

    def _handle(self, message: object | None) -> None:
        """One message, and whatever else waits, through the lifecycle; then the next timer."""
        if self._loop_done:
            return
        now = self._clock()
        messages = [] if message is None else [message]
        while True:
            try:
                messages.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        actions: list[Action] = []
        for item in messages:
            actions += self._actions_for(item, now)
        self._execute(actions + self.lifecycle.advance(now))
        self._arm()

    def _arm(self) -> None:
        """A loop timer at the lifecycle's next deadline, unless one at or before it is set already
        (a timer that finds nothing due does nothing)."""
        due = self.lifecycle.next_due()
        loop = self.loop
        if due is None or loop is None or (self._armed is not None and self._armed <= due):
            return
        self._armed = due
        loop.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._armed = None
        self._handle(None)

    def _watch_stop(self, loop: DeviceLoop, stop: threading.Event) -> None:
        """`stop` is set from elsewhere (locust stopping the user): looked at once a second."""
        if self._loop_done:
            return
        if stop.is_set():
            self._end_on_loop()
            return
        loop.call_at(self._clock() + 1.0, lambda: self._watch_stop(loop, stop))

    def _end_on_loop(self) -> None:
        if self._loop_done:
            return
        self._loop_done = True
        self._cut("run ended")
        self._loop_ended.set()

    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, StartContinuous):
                self._start_sync(continuous=True, budget=None)
            elif isinstance(action, StartWake):
                self._start_sync(continuous=False, budget=action.budget)
            elif isinstance(action, StopSync):
                self._sync_stop.set()
                if self._attempt is not None:
                    self._attempt.request_stop()
            elif isinstance(action, CutSync):
                self._cut(action.reason)
            elif isinstance(action, Edit):
                self.editor(self.device, self.rng)
                if self.loop is not None:  # the session is the loop's: tell it there
                    self.loop.call_soon_threadsafe(self.device.local_changed)
                else:
                    self.device.local_changed()

    def _cut(self, reason: str) -> None:
        """Kill the running replication mid-flight, as the OS kills the app."""
        self._token += 1  # its completion no longer counts
        self._sync_stop.set()
        if self._attempt is not None:
            self._attempt.cut(reason)  # closed on the loop, which owns the connection
            return
        session = self.device.session
        if session is not None:
            session.transport.close(1001, reason)

    def _start_sync(self, *, continuous: bool, budget: float | None) -> None:
        if self._sync_thread is not None and self._sync_thread.is_alive():
            self._cut("superseded")
            self._sync_thread.join(10)
        if self._attempt is not None and not self._attempt.finished.is_set():
            self._cut("superseded")
            if not self._on_loop:  # on the loop the cut runs before the next attempt starts (in order)
                self._attempt.finished.wait(10)
        self._token += 1
        token = self._token
        self._sync_stop = threading.Event()
        stop = self._sync_stop
        wake = self.lifecycle.wakes[-1] if self.lifecycle.wakes else None

        def observe(event: ReplicationEvent) -> None:
            if self.observer is not None:
                self.observer(event)
            if event.kind is EventKind.PUSHED:
                self.acknowledged.append((qualified(event.collection, event.doc_id), event.rev))
            if event.kind is EventKind.PULLED and b'"written_at"' in event.body:
                written = written_at(event.body)
                if written is not None:
                    phase = "awake" if self.lifecycle.state in (AppState.FOREGROUND, AppState.BACKGROUND) \
                        else "after_wake"
                    self.measurements.add_arrival(Arrival(event.doc_id, self.device.name,
                                                          self.device.credentials.username,
                                                          time.time() - written, phase, self.device.release.name))

        if self.loop is not None:
            self._attempt = LoopSync(self.loop, self.device, self._hooks(token, continuous), continuous=continuous,
                                     budget=budget, observer=observe)
            self._attempt.start()
            self._current = (wake, self._clock())
            return

        def work() -> None:
            ok, pulled, pushed, retries = False, 0, 0, 0
            backoff = Backoff(RetryPolicy(continuous=continuous))

            def connected() -> None:
                backoff.connected()
                self.connects += 1
            # The session's own deadline is a safety net: the lifecycle's budget timer cuts first.
            deadline = None if budget is None else time.monotonic() + budget + 5
            while True:
                try:
                    timeout = None if deadline is None else max(0.1, deadline - time.monotonic())
                    stats = self.device.sync(continuous=continuous, stop=stop, observer=observe, timeout=timeout,
                                             on_connected=connected)
                    ok, pulled, pushed = True, pulled + stats.docs_pulled, pushed + stats.docs_pushed
                    break
                except Exception as exc:  # a failure ends this attempt; retried only if transient
                    if token != self._token or stop.is_set():
                        break
                    wait = self._failed(exc, backoff)
                    if wait is None or stop.wait(wait) or token != self._token:
                        break
                    retries += 1
                    self.retries += 1
            self._inbox.put(_SyncDone(token, ok, pulled, pushed, retries))

        self._sync_thread = threading.Thread(target=work, name=f"sync-{self.device.name}", daemon=True)
        self._sync_thread.start()
        self._current = (wake, self._clock())

    def _failed(self, exc: BaseException, backoff: Backoff) -> float | None:
        """Record a failed attempt; the wait before Couchbase Lite tries again, or None (it stops)."""
        self.errors.append(f"{type(exc).__name__}: {exc}")
        if is_protocol_error(exc):
            self.protocol_errors += 1
        wait = backoff.failed(exc)
        log.debug("%s: sync failed (%s); retry in %s s", self.device.name, exc, wait)
        if wait is not None:
            self.retry_log.append(RetryRecord(time.time(), backoff.retries, wait, str(litecore_error(exc))))
        return wait

    def _hooks(self, token: int, continuous: bool) -> SyncHooks:
        """What a loop-driven attempt tells this runner (on the loop's thread), as `work()` does."""
        backoff = Backoff(RetryPolicy(continuous=continuous))

        def connected() -> None:
            backoff.connected()
            self.connects += 1

        def failed(exc: BaseException) -> float | None:
            return self._failed(exc, backoff)

        def retrying() -> None:
            self.retries += 1

        def done(ok: bool, pulled: int, pushed: int, retries: int) -> None:
            self._post(_SyncDone(token, ok, pulled, pushed, retries))
        return SyncHooks(connected, failed, retrying, done)

    def _on_sync_done(self, done: _SyncDone, now: float) -> list[Action]:
        wake, started = self._current
        if done.token != self._token:
            # A replication the lifecycle already cut (budget overrun, relaunch): record the overrun.
            if wake is not None and wake.overrun and wake.trigger is not Trigger.FOREGROUND:
                self._record(wake, started, None, done)
                self._current = (None, now)
            return []
        if wake is not None and wake.trigger is not Trigger.FOREGROUND:
            self._record(wake, started, now - started if done.ok else None, done)
        return self.lifecycle.sync_finished(now, ok=done.ok)

    def _record(self, wake: WakeRecord, started: float, duration: float | None, done: _SyncDone) -> None:
        delay = self._push_delay if wake.trigger is Trigger.PUSH else None
        self._push_delay = None
        started_wall = time.time() - (self._clock() - started)
        self.measurements.add_wake(WakeMeasurement(
            self.device.name, self.profile.name, wake.trigger.value, started_wall, duration,
            done.pulled, done.pushed, wake.overrun, delay, done.retries, self.device.release.name))
