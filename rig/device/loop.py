"""Many devices' continuous replications driven by one selector loop on one thread.

Why: with one OS thread (or greenlet plus helper thread) per replication, hand-offs between
threads cost a fifth to a third of the rig's CPU in a continuous fleet (issue 17's profile:
17-38 futex calls and 12-24 context switches per document). Here one thread waits on every
device's socket at once (`selectors`), reads what a readable socket holds, hands the messages
to that device's sans-I/O session (`SyncSession.pump`) and writes the answers, with no switch
per message. Timers (the replicators' checkpoint ticks, and whatever the caller schedules with
`call_at`, e.g. a bench's writes) run on the same thread.

Scope: `rig bench fleet --driver loop` uses it. `rig run` still runs each device's lifecycle
in a greenlet (locust spawns and stops them) with the replication on a helper greenlet; moving
it here as well is the rest of issue 17's item 1. Not handled here: the WebSocket heartbeat
(a PING after 5 minutes of silence; the loop's replications are busy), reconnects.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rig.device.device import VirtualDevice
from rig.replicator.link import Observer
from rig.replicator.session import SyncSession
from rig.transport import WebSocketTransport

log = logging.getLogger(__name__)

TICK_S = 0.25
"""How often every session's timers run (as SyncSession.run's read timeout)."""


@dataclass(slots=True)
class _Running:
    device: VirtualDevice
    session: SyncSession
    transport: WebSocketTransport
    fd: int
    """The socket's descriptor when registered (the transport's reads -1 once it closed)."""
    finished: bool = False


@dataclass(slots=True)
class DeviceLoop:
    """Call `connect()` for each device, then `run_until()`; `stop()` finishes every replication."""

    errors: list[str] = field(default_factory=list)
    _selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    _timers: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _running: list[_Running] = field(default_factory=list)

    def connect(self, device: VirtualDevice, *, continuous: bool = True, observer: Observer | None = None) -> None:
        """Open the device's WebSocket (blocking, on the caller's thread) and start replicating."""
        session = device.open_session(continuous=continuous, observer=observer)
        transport = session.transport
        assert isinstance(transport, WebSocketTransport)
        running = _Running(device, session, transport, transport.fileno())
        device.session = session
        self._running.append(running)
        self._selector.register(running.fd, selectors.EVENT_READ, running)
        session.begin()

    def call_at(self, when: float, action: Callable[[], None]) -> None:
        """Run `action` on the loop's thread at `when` (time.monotonic())."""
        heapq.heappush(self._timers, (when, next(self._order), action))

    @property
    def active(self) -> int:
        return sum(1 for r in self._running if not r.finished)

    def run_until(self, deadline: float, *, done: Callable[[], bool] | None = None) -> None:
        """Serve sockets and timers until `deadline` (time.monotonic()) or until `done()` says so."""
        selector = self._selector
        timers = self._timers
        next_tick = time.monotonic() + TICK_S
        while True:
            now = time.monotonic()
            if now >= deadline or (done is not None and done()):
                return
            wake = min(deadline, next_tick, timers[0][0] if timers else deadline)
            for key, _ in selector.select(max(wake - now, 0.0)):
                self._serve(key.data)
            now = time.monotonic()
            while timers and timers[0][0] <= now:
                _, _, action = heapq.heappop(timers)
                try:
                    action()
                except Exception as exc:
                    self.errors.append(f"timer: {type(exc).__name__}: {exc}")
            if now >= next_tick:
                next_tick = now + TICK_S
                for running in self._running:
                    if not running.finished:
                        self._pump(running, [])

    def _serve(self, running: _Running) -> None:
        if running.finished:
            return
        try:
            frames = running.transport.read_available()
        except Exception as exc:
            self._end(running, f"{running.device.name}: {type(exc).__name__}: {exc}")
            return
        if frames is None:
            self._end(running, None if running.session.replicator.finished
                      else f"{running.device.name}: the gateway closed the connection "
                           f"(code {running.transport.close_code})")
            return
        if frames:
            self._pump(running, frames)

    def _pump(self, running: _Running, frames: list[bytes]) -> None:
        try:
            finished = running.session.pump(frames)
        except Exception as exc:
            self._end(running, f"{running.device.name}: {type(exc).__name__}: {exc}")
            return
        if finished:
            self._end(running, None)

    def _end(self, running: _Running, error: str | None) -> None:
        running.finished = True
        if error is not None:
            self.errors.append(error)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(running.fd)
        running.transport.close(1000 if error is None else 1001)
        running.device.session = None

    def stop(self, grace_s: float = 10.0) -> None:
        """Ask every continuous replication to finish (each saves its checkpoint), wait up to
        `grace_s`, then cut what is left."""
        for running in self._running:
            if not running.finished:
                try:
                    running.session.request_stop()
                except Exception as exc:
                    self._end(running, f"{running.device.name}: {type(exc).__name__}: {exc}")
        self.run_until(time.monotonic() + grace_s, done=lambda: self.active == 0)
        for running in self._running:
            if not running.finished:
                self._end(running, f"{running.device.name}: not finished {grace_s:g} s after stop")
        self._selector.close()
