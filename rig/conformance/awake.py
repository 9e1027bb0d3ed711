"""A device that stays awake while a case goes on: its continuous pull runs on a thread.

Cases use it to watch what a running replication receives while documents move.
The case can also hold back what the device sends (:meth:`AwakeDevice.hold_replies`):
the device still reads and handles everything the gateway sends, but its replies
(to ``changes``, to ``rev``, its checkpoints) wait, as on a phone that is slow to
answer; :meth:`AwakeDevice.release_replies` lets them go, in order.

Everything the gateway sends can be traced (a second BLIP decoder fed the same
frames, so the replicator itself is untouched; it numbers requests as the device
does, so the gateway's replies decode too): the order of ``changes`` rows and
``rev`` messages on the wire is the evidence when a device ends up holding the
wrong revision.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from rig._errors import RigError
from rig.blip import BlipConnection, BlipEvent, FrameFlags, MessageType, decode_frame_header
from rig.device import VirtualDevice
from rig.replicator import ReplicatorConfig
from rig.replicator.session import SyncSession
from rig.transport import WebSocketTransport

Tap = Callable[[float, BlipEvent], None]
"""Called with (monotonic time, event) for every message the gateway sends the device."""

_POLL_S = 0.02


class _GatedTransport:
    """The device's WebSocket with a gate on what goes out; used from the session's thread only.

    While held, outgoing frames queue here; once released, the next send or receive
    (the session receives at least every 0.25 s) sends them first, in order.
    """

    def __init__(self, transport: WebSocketTransport, tap: Tap | None) -> None:
        self._transport = transport
        self._held: list[bytes] = []
        self.holding = False
        self._tap = tap
        self._decoder = BlipConnection() if tap is not None else None
        self._mirrored = 0

    @property
    def close_code(self) -> int | None:
        return self._transport.close_code

    def _drain(self) -> None:
        if not self.holding and self._held:
            held, self._held = self._held, []
            self._transport.send(held)

    def send(self, messages: Iterable[bytes]) -> None:
        frames = list(messages)
        self._mirror(frames)
        if self.holding:
            self._held.extend(frames)
            return
        self._drain()
        self._transport.send(frames)

    def _mirror(self, frames: list[bytes]) -> None:
        """Number the decoder's requests as the device's, so it accepts the gateway's replies to them."""
        decoder = self._decoder
        if decoder is None:
            return
        for frame in frames:
            number, flags = decode_frame_header(frame)
            if flags & int(FrameFlags.TYPE_MASK) != int(MessageType.MSG):
                continue
            while self._mirrored < number:
                self._mirrored = decoder.send_request({}, no_reply=bool(flags & FrameFlags.NO_REPLY))
        decoder.data_to_send()  # nothing of the decoder's goes anywhere

    def recv(self, timeout: float | None = None) -> bytes | None:
        self._drain()
        frame = self._transport.recv(timeout=timeout)
        if frame and self._decoder is not None and self._tap is not None:
            now = time.monotonic()
            for event in self._decoder.receive_frame(frame):
                self._tap(now, event)
        return frame

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._transport.close(code, reason)


class AwakeDevice:
    """`device`'s continuous pull on a thread (push is left to the case's one-shot syncs)."""

    def __init__(self, device: VirtualDevice, *, timeout: float = 60.0, tap: Tap | None = None) -> None:
        self.device = device
        self.timeout = timeout
        self._tap = tap
        self._gate: _GatedTransport | None = None
        self._session: SyncSession | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None

    # Life ----------------------------------------------------------------------------------------
    def start(self) -> AwakeDevice:
        """Connect and replicate continuously; return once the first caught-up marker is in."""
        device = self.device
        release = device.release  # the same wire behaviour as the device's one-shot syncs
        subprotocols = device.subprotocols or release.subprotocols(push=False, pull=True)
        transport = WebSocketTransport.connect(device.url, subprotocols=subprotocols,
                                               auth=device.credentials.auth(), timeout=device.connect_timeout,
                                               connect_to=device.via)
        self._gate = _GatedTransport(transport, self._tap)
        config = ReplicatorConfig(device.checkpoint_id, push=False, pull=True, continuous=True,
                                  channels=device.channels, checkpoint_interval=device.checkpoint_interval,
                                  release=release, database_uuid=device.device_uuid)
        self._session = SyncSession(self._gate, device.store, config)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"awake-{device.name}", daemon=True)
        self._thread.start()
        self._wait(lambda: self._replicator_caught_up(), "the first caught-up marker")
        return self

    def _run(self) -> None:
        assert self._session is not None
        try:
            self._session.run(stop=self._stop, timeout=self.timeout * 10)
        except BaseException as exc:  # handed to the case's thread by stop() and _wait()
            self._error = exc

    def stop(self) -> None:
        """Save the checkpoint and disconnect (the device goes to sleep); raise what the replication raised."""
        if self._thread is None:
            return
        self._gate_release()
        self._stop.set()
        self._thread.join(self.timeout)
        alive = self._thread.is_alive()
        self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise RigError(f"{self.device.name}: continuous replication failed: {error}") from error
        if alive:
            raise RigError(f"{self.device.name}: continuous replication did not stop within {self.timeout}s")

    # What the case waits for ---------------------------------------------------------------------
    @property
    def rows(self) -> int:
        """`changes` rows received so far."""
        return self._session.stats.changes_rows if self._session is not None else 0

    def _replicator_caught_up(self) -> bool:
        return self._session is not None and self._session.replicator.caught_up

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not done():
            if self._error is not None or (self._thread is not None and not self._thread.is_alive()):
                self.stop()
                raise RigError(f"{self.device.name}: replication ended while waiting for {what}")
            if time.monotonic() > deadline:
                raise RigError(f"{self.device.name}: no {what} within {self.timeout}s")
            time.sleep(_POLL_S)

    def wait_for_rows(self, count: int) -> None:
        """Until at least `count` changes rows have arrived in all."""
        self._wait(lambda: self.rows >= count, f"{count} changes rows (have {self.rows})")

    def settle(self, quiet: float = 0.5) -> None:
        """Until every requested revision is stored and no row has come for `quiet` seconds.

        The case first waits for the gateway's changes feed (`Harness.settle`), so what
        the gateway will send is already on its way after that.
        """
        last, since = self.rows, time.monotonic()

        def quiet_now() -> bool:
            nonlocal last, since
            if self.rows != last:
                last, since = self.rows, time.monotonic()
            return self._replicator_caught_up() and time.monotonic() - since >= quiet

        self._wait(quiet_now, f"a quiet, caught-up pull ({quiet}s without rows)")

    # The gate ------------------------------------------------------------------------------------
    def hold_replies(self) -> None:
        """From now on what the device sends waits (its reads and its store go on)."""
        if self._gate is None:
            raise RigError(f"{self.device.name}: not awake")
        self._gate.holding = True

    def release_replies(self) -> None:
        """Let the held replies go (sent by the replication's thread within a quarter second)."""
        self._gate_release()

    def _gate_release(self) -> None:
        if self._gate is not None:
            self._gate.holding = False
