"""One replication attempt of a device's lifecycle, driven by the process's DeviceLoop instead of a thread.

What `DeviceRunner`'s sync thread does with a blocking `device.sync()` (rig.device.runner), done as
callbacks on the loop: connect, begin, pump on readiness (the loop), the budget's safety-net
deadline, a stop (continuous: finish with a checkpoint), a cut (the OS kills the app), and retries
after a transient error with Couchbase Lite's backoff (the wait is a loop timer). Only the
WebSocket connect blocks (TCP, TLS, the upgrade: the gateway checks credentials there), so it
runs on a short-lived thread of its own (a greenlet under gevent): one hand-off per connect, none
per message. The runner is told through `hooks` exactly what its thread would have told it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rig.device.device import VirtualDevice
from rig.device.loop import DeviceLoop, Running
from rig.replicator.link import Observer
from rig.replicator.session import ReplicationTimedOut, SyncSession
from rig.transport import WebSocketTransport


@dataclass(frozen=True, slots=True)
class SyncHooks:
    """The runner's side: called on the loop's thread."""

    connected: Callable[[], None]
    """A WebSocket opened (Couchbase Lite resets its retry count)."""
    failed: Callable[[BaseException], float | None]
    """An attempt failed: the wait before the next one, or None to give up (records the error)."""
    retrying: Callable[[], None]
    """The wait is over and the next attempt starts."""
    done: Callable[[bool, int, int, int], None]
    """The replication is over: (ok, docs pulled, docs pushed, retries)."""


class LoopSync:
    """Start with `start()` from any thread; `request_stop()` and `cut()` likewise; `finished` is set at the end."""

    def __init__(self, loop: DeviceLoop, device: VirtualDevice, hooks: SyncHooks, *, continuous: bool,
                 budget: float | None, observer: Observer | None) -> None:
        self.loop = loop
        self.device = device
        self.hooks = hooks
        self.continuous = continuous
        self.observer = observer
        # The session's own deadline is a safety net: the lifecycle's budget timer cuts first.
        self.deadline = None if budget is None else time.monotonic() + budget + 5
        self.finished = threading.Event()
        self._running: Running | None = None
        self._connecting = False
        self._stop = False
        self._cut: str | None = None
        self._pulled = 0
        self._pushed = 0
        self._retries = 0
        self._over = False

    # From any thread -------------------------------------------------------------------------------
    def start(self) -> None:
        self.loop.call_soon_threadsafe(self._attempt)

    def request_stop(self) -> None:
        self.loop.call_soon_threadsafe(self._on_stop)

    def cut(self, reason: str) -> None:
        self.loop.call_soon_threadsafe(lambda: self._on_cut(reason))

    # On the loop ---------------------------------------------------------------------------------
    def _attempt(self) -> None:
        if self._over:
            return
        if self._stop or self._cut is not None:
            self._finish(False)
            return
        if self.deadline is not None:
            if time.monotonic() >= self.deadline:
                self._failed(ReplicationTimedOut("replication not finished within its budget (state connecting)"))
                return
            self.loop.call_at(self.deadline, self._timed_out)
        self._connecting = True
        threading.Thread(target=self._connect, name=f"connect-{self.device.name}", daemon=True).start()

    def _connect(self) -> None:
        """On the connect thread: the blocking WebSocket open, then back to the loop."""
        try:
            session = self.device.open_session(continuous=self.continuous, observer=self.observer)
        except Exception as exc:
            error = exc
            self.loop.call_soon_threadsafe(lambda: self._connect_failed(error))
            return
        self.loop.call_soon_threadsafe(lambda: self._connected(session))

    def _connect_failed(self, error: BaseException) -> None:
        self._connecting = False
        if self._over:
            return
        if self._stop or self._cut is not None:
            self._finish(False)
            return
        self._failed(error)

    def _connected(self, session: SyncSession) -> None:
        self._connecting = False
        if self._over or self._cut is not None:
            transport = session.transport
            assert isinstance(transport, WebSocketTransport)
            transport.start_close(1001, self._cut or "superseded")  # never waits on the loop
            transport.abort()
            self._finish(False)
            return
        self.hooks.connected()
        self.device.session = session
        running = self.loop.add(session, self.device.name, on_end=self._ended, device=self.device)
        if running.finished:
            return  # it failed to begin: _ended has handled it
        self._running = running
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self._timed_out()  # the connect itself took the budget
        elif self._stop and self._running is not None:
            self.loop.request_stop(self._running)

    def _ended(self, error: BaseException | None) -> None:
        running, self._running = self._running, None
        if self._over:
            return
        if error is None:
            if running is not None:
                stats = running.session.stats
                self._pulled += stats.docs_pulled
                self._pushed += stats.docs_pushed
            self._finish(True)
            return
        if self._stop or self._cut is not None:
            self._finish(False)
            return
        self._failed(error)

    def _failed(self, error: BaseException) -> None:
        """As the thread's `except`: record, then wait Couchbase Lite's backoff or give up."""
        wait = self.hooks.failed(error)
        if wait is None:
            self._finish(False)
            return
        self.loop.call_at(time.monotonic() + wait, self._retry)

    def _retry(self) -> None:
        if self._over:
            return
        if self._stop or self._cut is not None:
            self._finish(False)
            return
        self._retries += 1
        self.hooks.retrying()
        self._attempt()

    def _timed_out(self) -> None:
        running = self._running
        if self._over or running is None:
            return  # connecting: the connect's end sees the deadline passed on the next attempt
        self.loop.cut(running, "budget deadline", ReplicationTimedOut(
            f"replication not finished within its budget (state {running.session.replicator.state.value})"))

    def _on_stop(self) -> None:
        if self._over:
            return
        self._stop = True
        if self._running is not None:
            self.loop.request_stop(self._running)
        elif not self._connecting:
            self._finish(False)  # waiting to retry: a stopped replicator does not

    def _on_cut(self, reason: str) -> None:
        if self._over:
            return
        self._cut = reason
        if self._running is not None:
            self.loop.cut(self._running, reason)  # -> _ended -> _finish(False)
        elif not self._connecting:
            self._finish(False)

    def _finish(self, ok: bool) -> None:
        if self._over:
            return
        self._over = True
        try:
            self.hooks.done(ok, self._pulled, self._pushed, self._retries)
        finally:
            self.finished.set()
