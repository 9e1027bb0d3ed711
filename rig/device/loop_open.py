"""A device's WebSocket opened on its DeviceLoop (no thread), then its replication driven there.

`DeviceLoop.connect` and `LoopSync` open the WebSocket blocking, on the caller's thread or a
short-lived thread per connect. When thousands of devices connect at one instant (a wake storm,
`rig bench capacity`), that is thousands of threads waiting on the GIL: the rig, not the
gateway, would set the pace. Here the TCP connect and the upgrade (`NonBlockingOpen`) are
driven by the loop's epoll like any socket, and the open WebSocket goes straight to `add`.
Plain ``ws://`` only (TLS: `DeviceLoop.connect`). The device's `connect_timeout` bounds the open
as it bounds a blocking one.
"""

from __future__ import annotations

import time

from rig._errors import ConnectError
from rig.device.device import VirtualDevice
from rig.device.loop import DeviceLoop, Ended, ReplicationCut, Running
from rig.replicator.link import Observer
from rig.transport import WebSocketTransport
from rig.transport.opening import NonBlockingOpen, plan_opening


class LoopOpen:
    """One replication of `device`: `start()` opens and runs it on `loop`; `on_end` is told once how it
    ended (None: finished; else the open's error, the replication's, or a `ReplicationCut`).
    Everything here runs on the loop's thread."""

    def __init__(self, loop: DeviceLoop, device: VirtualDevice, on_end: Ended, *, push: bool = True,
                 pull: bool = True, continuous: bool = False, observer: Observer | None = None) -> None:
        self.loop = loop
        self.device = device
        self.on_end = on_end
        self.push, self.pull, self.continuous, self.observer = push, pull, continuous, observer
        self.running: Running | None = None
        self.over = False
        self._open: NonBlockingOpen | None = None
        self._fd = -1
        self._events = 0

    def prepare(self) -> None:
        """The socket and the upgrade request, nothing sent: what `start()` does first, done ahead so a
        bench's clock starts at the first packet (a woken phone builds these on its own CPU, not the
        rig's). A failure here ends it (`on_end`) at once."""
        if self._open is not None or self.over:
            return
        device = self.device
        try:
            plan = plan_opening(device.url, subprotocols=device.offered(push=self.push, pull=self.pull),
                                auth=device.credentials.auth(), connect_to=device.via)
            self._open = NonBlockingOpen(plan)
            self._open.prepare()
        except Exception as exc:
            self._open = None
            self._end(exc)

    def start(self) -> None:
        self.prepare()
        if self.over or self._open is None or self._fd >= 0:
            return
        try:
            self._fd = self._open.start()
        except Exception as exc:
            self._open = None
            self._end(exc)
            return
        self._events = self._open.events()
        self.loop.watch(self._fd, self._events, self._ready)
        self.loop.call_at(time.monotonic() + self.device.connect_timeout, self._open_timed_out)

    def cut(self, reason: str) -> None:
        """The device ends it (the OS kills the app): mid-open the socket is dropped, mid-replication the
        loop closes it (1001 with `reason`); `on_end` gets a ReplicationCut either way."""
        if self.over:
            return
        if self.running is not None:
            self.loop.cut(self.running, reason)
            return
        self._drop()
        self._end(ReplicationCut(f"{self.device.name}: {reason}", code=1001, reason=reason))

    @property
    def opening(self) -> bool:
        return not self.over and self.running is None

    def _ready(self, events: int) -> None:
        opener = self._open
        if opener is None or self.over:
            return
        try:
            opened = opener.ready()
        except Exception as exc:
            self._drop()
            self._end(exc)
            return
        if opened is None:
            if opener.events() != self._events:  # the request is out: now the answer
                self._events = opener.events()
                self.loop.watch(self._fd, self._events, self._ready)
            return
        self.loop.unwatch(self._fd)
        self._open = None
        sock, accepted = opened
        device = self.device
        transport = WebSocketTransport.opened(sock, accepted, where=opener.opening.where,
                                              io_timeout=device.connect_timeout, heartbeat=device.heartbeat)
        session = device.session_over(transport, push=self.push, pull=self.pull, continuous=self.continuous,
                                      observer=self.observer)
        device.session = session
        self.running = self.loop.add(session, device.name, on_end=self._end, device=device)

    def _open_timed_out(self) -> None:
        if self.opening and self._open is not None:
            self._drop()
            self._end(ConnectError(f"{self.device.name}: WebSocket not open within {self.device.connect_timeout:g} s",
                                   timed_out=True))

    def _drop(self) -> None:
        opener, self._open = self._open, None
        if opener is not None:
            if self._fd >= 0:
                self.loop.unwatch(self._fd)
            opener.abort()

    def _end(self, error: BaseException | None) -> None:
        if self.over:
            return
        self.over = True
        self.on_end(error)
