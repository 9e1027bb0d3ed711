"""The thin driver: moves bytes between a transport and the pure BLIP codec and replicator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from rig._errors import ConnectionClosed, ReadTimeout, RemoteUnavailable, ReplicationError
from rig.blip import Request
from rig.replicator.collection_group import CollectionsReplicator
from rig.replicator.link import Observer, ReplicationStats
from rig.replicator.replicator import Replicator, ReplicatorConfig, ReplicatorState
from rig.replicator.stopping import ProfiledBlip, stopping_error
from rig.replicator.store import LocalStore

# How long one read waits before the driver ticks the replicator (checkpoint timer, stop flag).
_POLL_S = 0.25


class ByteTransport(Protocol):
    """What the driver needs; a transport may also offer `take_buffered() -> list[bytes]` (every message
    already received, without waiting), which the driver then handles before it flushes."""

    def send(self, messages: list[bytes]) -> None: ...

    def recv(self, timeout: float | None = None) -> bytes | None: ...

    def close(self, code: int = 1000, reason: str = "") -> None: ...

    @property
    def close_code(self) -> int | None:
        """The peer's close status, None when the stream ended without a close frame."""
        ...


class ReplicationTimedOut(ReplicationError):
    """The replication did not finish within its time budget (the OS would kill the app here)."""


class SyncSession:
    """One replication over one connection; thread-safe `local_changed()` for continuous push."""

    def __init__(self, transport: ByteTransport, store: LocalStore, config: ReplicatorConfig, *,
                 observer: Observer | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.transport = transport
        self.blip = ProfiledBlip()
        self.replicator: Replicator | CollectionsReplicator
        if len(config.collections) > 1:
            self.replicator = CollectionsReplicator(self.blip, store, config, clock=clock, observer=observer)
        else:
            # One collection (the default or a named one) is one Replicator on that collection's store.
            self.replicator = Replicator(self.blip, store.collection(config.collections[0]), config, clock=clock,
                                         observer=observer)
        self._clock = clock
        self._lock = threading.RLock()

    @property
    def stats(self) -> ReplicationStats:
        return self.replicator.stats

    def _flush(self) -> None:
        frames = self.blip.data_to_send()
        if frames:
            self.transport.send(frames)

    # Step API: for a driver that runs many sessions on one event loop (rig.device.loop) instead of
    # one blocking `run()` per thread. Same handling as `run()`; no timeout, the driver owns the clock.
    def begin(self) -> None:
        """Start replicating (send the first requests)."""
        with self._lock:
            self.replicator.start()
            self._flush()

    def pump(self, frames: list[bytes]) -> bool:
        """Handle frames the transport received (none: just the timers), flush; True once finished.
        Raises what `run()` raises for a stop error reply."""
        replicator = self.replicator
        with self._lock:
            for frame in frames:
                if replicator.finished:
                    break
                self._handle(frame)
            replicator.tick()
            self._flush()
        return replicator.finished

    def request_stop(self) -> None:
        """Ask a continuous replication to finish (checkpoint, then done)."""
        with self._lock:
            self.replicator.stop()
            self._flush()

    def ended_early(self) -> ConnectionClosed:
        """What `run()` raises when the transport ends before the replication finished (for a loop's driver)."""
        code = self.transport.close_code
        return ConnectionClosed("the gateway closed the connection before the replication "
                                f"finished (state {self.replicator.state.value})", code=1006 if code is None else code)

    def failure(self) -> BaseException | None:
        """Once `pump` said finished: the error `run()` would raise for a failed replication, else None."""
        replicator = self.replicator
        if replicator.state is ReplicatorState.FAILED:
            return replicator.failure or ReplicationError(replicator.error or "replication failed")
        return None

    def _handle(self, frame: bytes) -> None:
        replicator = self.replicator
        for event in self.blip.receive_frame(frame):
            if not isinstance(event, Request):
                stop_error = stopping_error(self.blip.answered(event), event)
                if stop_error is not None:
                    raise stop_error
            replicator.handle(event)

    def local_changed(self) -> None:
        with self._lock:
            self.replicator.local_changed()
            self._flush()

    def run(self, *, timeout: float | None = None, stop: threading.Event | None = None) -> ReplicationStats:
        """Replicate until done (one-shot), until `stop` is set (continuous), or until `timeout`.

        Raises ReplicationTimedOut when the budget runs out mid-flight (the connection is
        then cut, as when the OS kills a suspended app), ReplicationError when the gateway
        refused the replication, ConnectionClosed when it hung up before the end (its code is
        the gateway's close status, 1006 without a close frame), RemoteUnavailable (after
        closing with 4001) when the gateway answered a request with a BLIP error 503.
        """
        replicator = self.replicator
        take_buffered: Callable[[], list[bytes]] | None = getattr(self.transport, "take_buffered", None)
        deadline = None if timeout is None else self._clock() + timeout
        try:
            with self._lock:
                replicator.start()
                self._flush()
            while not replicator.finished:
                if stop is not None and stop.is_set():
                    stop = None
                    with self._lock:
                        replicator.stop()
                        self._flush()
                    continue
                wait = _POLL_S
                if deadline is not None:
                    wait = min(wait, deadline - self._clock())
                    if wait <= 0:
                        raise ReplicationTimedOut(f"replication not finished within {timeout}s "
                                                  f"(state {replicator.state.value})")
                try:
                    frame = self.transport.recv(timeout=wait)
                except ReadTimeout:
                    frame = b""
                if frame is None:
                    code = self.transport.close_code
                    raise ConnectionClosed("the gateway closed the connection before the replication "
                                           f"finished (state {replicator.state.value})",
                                           code=1006 if code is None else code)
                with self._lock:
                    if frame:
                        self._handle(frame)
                        # Everything the last read brought, before one tick and one flush: fewer,
                        # larger writes and one pass of the replicator's timers per read, not per message.
                        if take_buffered is not None:
                            for more in take_buffered():
                                if self.replicator.finished:  # (a handler may finish it)
                                    break
                                self._handle(more)
                    replicator.tick()
                    self._flush()
        except RemoteUnavailable as exc:
            self.transport.close(exc.code or 4001, exc.reason)
            raise
        except BaseException:
            self.transport.close(1001, "replication cut")
            raise
        self.transport.close()
        if replicator.state is ReplicatorState.FAILED:
            raise replicator.failure or ReplicationError(replicator.error or "replication failed")
        return replicator.stats
