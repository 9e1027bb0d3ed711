"""Many devices' replications driven by one event loop on one thread (or one greenlet under gevent).

Why: with one OS thread (or greenlet plus helper thread) per replication, hand-offs between
threads cost a fifth to a third of the rig's CPU in a continuous fleet (issue 17's profile:
17-38 futex calls and 12-24 context switches per document). Here one thread waits on every
device's socket at once (epoll), reads what a readable socket holds, hands the messages to that
device's sans-I/O session (`SyncSession.pump`) and writes the answers, with no switch per
message. Timers (the replicators' checkpoint ticks, the WebSocket heartbeat, and whatever the
caller schedules with `call_at`, e.g. a bench's writes or a replication's retry) run on the same
thread; other threads (or greenlets) hand work over with `call_soon_threadsafe`.

Under gevent (`rig run`, where locust patches the standard library) the loop is one greenlet: it
keeps the real epoll object (gevent removes `select.epoll`) and, when nothing is ready, waits for
the epoll descriptor itself through gevent's hub, so locust's greenlets run while it waits; when
sockets are ready back to back it yields once per pass (`gevent.sleep(0)`), not once per message.

Users: `rig bench fleet --driver loop` (`connect`, `run_until`, `stop`) and `rig run --driver loop`
(`rig.device.loop_sync`: one replication attempt with retries, `add`, `run_forever`, `shutdown`).
Closing is non-blocking: our close frame goes out and the socket stays watched until the
gateway's close frame (or `CLOSE_GRACE_S`), so no close waits on the loop. Not handled here:
reconnects (the caller's, e.g. loop_sync).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rig._errors import ConnectionClosed, RemoteUnavailable
from rig.device.device import VirtualDevice
from rig.replicator.link import Observer
from rig.replicator.session import SyncSession
from rig.transport import WebSocketTransport

log = logging.getLogger(__name__)

TICK_S = 0.25
"""How often every session's timers (and heartbeat) run (as SyncSession.run's read timeout)."""
CLOSE_GRACE_S = 2.0
"""How long a closing connection waits for the gateway's close frame (as WebSocketTransport.close)."""

Ended = Callable[[BaseException | None], None]
"""Told once when a replication ended: None when it finished, else why not."""


class ReplicationCut(ConnectionClosed):
    """The device cut its own replication (budget spent, app killed, superseded)."""


@dataclass(slots=True, eq=False)
class Running:
    """One replication on the loop (the handle `add` returns)."""

    name: str
    session: SyncSession
    transport: WebSocketTransport
    fd: int
    """The socket's descriptor when registered (the transport's reads -1 once it closed)."""
    on_end: Ended | None = None
    device: VirtualDevice | None = None
    finished: bool = False
    closing_until: float | None = None
    """While our close frame waits for the gateway's: when to give up and shut the socket."""


def _gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("select"))


def _epoll() -> Any:
    if _gevent_patched():
        from gevent import monkey

        return monkey.get_original("select", "epoll")()
    return select.epoll()


@dataclass(slots=True)
class DeviceLoop:
    """Bench: `connect()` each device, then `run_until()`; `stop()` finishes every replication.
    Load process: `run_forever()` on its own thread, `add()`/`call_soon_threadsafe()` from others, `shutdown()`."""

    errors: list[str] = field(default_factory=list)
    _epoll: Any = field(default_factory=_epoll)
    _fds: dict[int, Running | None] = field(default_factory=dict)
    _timers: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _running: list[Running] = field(default_factory=list)
    _closing: list[Running] = field(default_factory=list)
    _ready: deque[Callable[[], None]] = field(default_factory=deque)
    _watchers: dict[int, Callable[[int], None]] = field(default_factory=dict)
    _wake_r: int = -1
    _wake_w: int = -1
    _signalled: bool = False
    _closed: bool = False
    _wake_lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: bool = False
    _gevent: bool = field(default_factory=_gevent_patched)
    thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._fds[self._wake_r] = None

    # Handing work over ----------------------------------------------------------------------------------
    def call_soon_threadsafe(self, action: Callable[[], None]) -> None:
        """Run `action` on the loop's thread soon (from any thread or greenlet). On a loop that has
        closed, nothing: its descriptors are gone (a push delivered to a device after its run ended)."""
        if self._closed:
            return
        self._ready.append(action)
        if not self._signalled:
            self._signalled = True
            with self._wake_lock:  # never write to the wake pipe's number once _close has freed it
                if not self._closed:
                    with contextlib.suppress(BlockingIOError):
                        os.write(self._wake_w, b"x")

    def call_at(self, when: float, action: Callable[[], None]) -> None:
        """Run `action` on the loop's thread at `when` (time.monotonic()); from the loop's thread only."""
        heapq.heappush(self._timers, (when, next(self._order), action))

    def watch(self, fd: int, events: int, ready: Callable[[int], None]) -> None:
        """Call `ready(events)` on the loop's thread whenever `fd` has `events` (epoll, level-triggered),
        until `unwatch(fd)`; watching it again changes the events. For descriptors that are not yet a
        replication's, e.g. a WebSocket being opened (rig.device.loop_open). From the loop's thread only."""
        stale = self._fds.get(fd)
        if stale is not None:  # its socket was closed elsewhere and the descriptor reused
            self._end(stale, ConnectionClosed(f"{stale.name}: connection closed", code=None))
            self._forget(stale)
        if fd in self._watchers:
            self._epoll.modify(fd, events)
        else:
            self._epoll.register(fd, events)
        self._watchers[fd] = ready

    def unwatch(self, fd: int) -> None:
        """Stop watching `fd` (before closing it or handing it to `add`)."""
        if self._watchers.pop(fd, None) is not None:
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)

    # Replications ---------------------------------------------------------------------------------------
    def connect(self, device: VirtualDevice, *, continuous: bool = True, observer: Observer | None = None) -> None:
        """Open the device's WebSocket (blocking, on the caller's thread) and start replicating."""
        session = device.open_session(continuous=continuous, observer=observer)
        device.session = session
        self.add(session, device.name, device=device)

    def add(self, session: SyncSession, name: str, *, on_end: Ended | None = None,
            device: VirtualDevice | None = None) -> Running:
        """Start driving a connected session (on the loop's thread, or before the loop runs)."""
        transport = session.transport
        assert isinstance(transport, WebSocketTransport)
        running = Running(name, session, transport, transport.fileno(), on_end, device)
        stale = self._fds.get(running.fd)
        if stale is not None:  # its socket was closed elsewhere and the descriptor reused
            self._end(stale, ConnectionClosed(f"{stale.name}: connection closed", code=None))
        self._watchers.pop(running.fd, None)  # an opening's socket becomes the replication's
        self._fds[running.fd] = running
        try:
            self._epoll.register(running.fd, select.EPOLLIN)
        except FileExistsError:
            self._epoll.modify(running.fd, select.EPOLLIN)
        self._running.append(running)
        try:
            session.begin()
        except Exception as exc:
            self._end(running, exc)
        return running

    def cut(self, running: Running, reason: str, error: BaseException | None = None) -> None:
        """End a replication from the device's side (a close frame 1001 with `reason`), on the loop's thread."""
        if not running.finished:
            self._end(running, error or ReplicationCut(f"{running.name}: {reason}", code=1001, reason=reason),
                      close=(1001, reason))

    def request_stop(self, running: Running) -> None:
        """Ask a continuous replication to finish (checkpoint, then done), on the loop's thread."""
        if running.finished:
            return
        try:
            running.session.request_stop()
        except Exception as exc:
            self._end(running, exc)

    @property
    def active(self) -> int:
        return sum(1 for r in self._running if not r.finished)

    # The loop ------------------------------------------------------------------------------------------
    def run_until(self, deadline: float, *, done: Callable[[], bool] | None = None) -> None:
        """Serve sockets and timers until `deadline` (time.monotonic()), `done()` or `shutdown()`."""
        timers = self._timers
        ready = self._ready
        fds = self._fds
        next_tick = time.monotonic() + TICK_S
        while not self._stopping:
            now = time.monotonic()
            if now >= deadline or (done is not None and done()):
                return
            wake = 0.0 if ready else min(deadline, next_tick, timers[0][0] if timers else deadline) - now
            for fd, events in self._wait(max(wake, 0.0)):
                running = fds.get(fd)
                if running is not None:
                    self._serve(running)
                elif fd == self._wake_r:
                    self._signalled = False
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                else:
                    watcher = self._watchers.get(fd)
                    if watcher is not None:
                        self._safely("watcher", lambda: watcher(events))  # noqa: B023 - called at once
            while ready:
                self._safely("call", ready.popleft())
            now = time.monotonic()
            while timers and timers[0][0] <= now:
                self._safely("timer", heapq.heappop(timers)[2])
            if now >= next_tick:
                next_tick = now + TICK_S
                self._tick(now)

    def _wait(self, timeout: float) -> list[tuple[int, int]]:
        events: list[tuple[int, int]]
        if not self._gevent:
            return self._epoll.poll(timeout)  # type: ignore[no-any-return]
        import gevent
        from gevent.select import select as gevent_select

        events = self._epoll.poll(0)
        if events:
            gevent.sleep(0)  # busy: let the other greenlets (locust, lifecycles) run once per pass
        elif timeout > 0:
            gevent_select([self._epoll.fileno()], [], [], timeout)  # waits in the hub
            events = self._epoll.poll(0)
        return events

    def _safely(self, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:
            log.exception("device loop: %s failed", what)
            self.errors.append(f"{what}: {type(exc).__name__}: {exc}")

    def _tick(self, now: float) -> None:
        """Every session's timers and heartbeat; closings that waited too long are shut."""
        for running in self._running:
            if running.finished:
                continue
            try:
                running.transport.beat()
            except Exception as exc:
                self._end(running, exc)
                continue
            self._pump(running, [])
        self._running = [r for r in self._running if not r.finished]
        if self._closing:
            for running in self._closing:
                if running.closing_until is not None and now >= running.closing_until:
                    running.transport.abort("no close frame from the peer in time")
                    self._forget(running)
            self._closing = [r for r in self._closing if r.closing_until is not None]

    def _serve(self, running: Running) -> None:
        if running.closing_until is not None:  # our close frame is out: wait for the gateway's
            try:
                running.transport.read_available()
            except Exception:
                running.transport.abort("broken close")
            if running.transport.closed:
                self._forget(running)
            return
        if running.finished:
            return
        try:
            frames = running.transport.read_available()
        except Exception as exc:
            self._end(running, exc)
            return
        if frames is None:
            self._end(running, None if running.session.replicator.finished else running.session.ended_early())
            return
        if frames:
            self._pump(running, frames)

    def _pump(self, running: Running, frames: list[bytes]) -> None:
        try:
            finished = running.session.pump(frames)
        except Exception as exc:
            self._end(running, exc)
            return
        if finished:
            self._end(running, running.session.failure())

    def _end(self, running: Running, error: BaseException | None, *, close: tuple[int, str] | None = None) -> None:
        """The replication is over: start closing (non-blocking) and tell its owner."""
        if running.finished:
            return
        running.finished = True
        if error is not None and running.on_end is None:
            self.errors.append(f"{running.name}: {type(error).__name__}: {error}")
        transport = running.transport
        if close is None:
            close = (1000, "") if error is None else (1001, "replication cut")
            if isinstance(error, RemoteUnavailable):
                close = (error.code or 4001, error.reason)
        try:
            transport.start_close(*close)  # nothing when already closed
        except Exception:
            transport.abort("close failed")
        if transport.closed:
            self._forget(running)
        else:
            running.closing_until = time.monotonic() + CLOSE_GRACE_S
            self._closing.append(running)
        if running.device is not None and running.device.session is running.session:
            running.device.session = None
        if running.on_end is not None:
            self._safely("on_end", lambda: running.on_end(error) if running.on_end else None)

    def _forget(self, running: Running) -> None:
        running.closing_until = None
        if self._fds.get(running.fd) is running:
            del self._fds[running.fd]
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(running.fd)

    # Ending ----------------------------------------------------------------------------------------------
    def stop(self, grace_s: float = 10.0) -> None:
        """Bench: ask every continuous replication to finish (each saves its checkpoint), wait up to
        `grace_s`, then cut what is left."""
        for running in list(self._running):
            self.request_stop(running)
        self.run_until(time.monotonic() + grace_s, done=lambda: self.active == 0)
        for running in list(self._running):
            self.cut(running, "not finished after stop", RuntimeError(f"not finished {grace_s:g} s after stop"))
        self._close()

    def start(self, name: str = "device-loop") -> threading.Thread:
        """Run the loop on its own daemon thread (a greenlet under gevent) until `shutdown()`."""
        self.thread = threading.Thread(target=self.run_forever, name=name, daemon=True)
        self.thread.start()
        return self.thread

    def run_forever(self) -> None:
        self.run_until(float("inf"))
        for running in list(self._running):
            self.cut(running, "device loop shut down")
        self._close()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the loop started with `start()` (cutting what still runs) and wait for its thread."""
        def stopping() -> None:
            self._stopping = True
        self.call_soon_threadsafe(stopping)
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def _close(self) -> None:
        for running in self._closing:
            running.transport.abort("device loop closed")
        self._closing.clear()
        with contextlib.suppress(OSError):
            self._epoll.close()
        with self._wake_lock:
            self._closed = True
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
