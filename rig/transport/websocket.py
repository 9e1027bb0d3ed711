"""The blocking WebSocket client that carries BLIP to Sync Gateway: the rig's only socket code.

Theory of operation
-------------------
`WebSocketTransport.connect()` opens TCP (and TLS for ``wss://``), sends the upgrade
request from the sans-I/O `_handshake` (HTTP/1.1 by h11; one ``Sec-WebSocket-Protocol``
line in preference order, no extension offer, no ``Origin``, credentials sent
preemptively) and reads the answer. Anything but a valid 101 naming one of our
subprotocols becomes a typed `HandshakeRejected`. After that, bytes go through the
sans-I/O frame codec in `_frames` (cheaper per message than wsproto's or
websocket-client's frame layers; wsproto serves as its reference in the tests).

Everything is plain socket calls plus ``select.poll``, looked up at call time, so the same
code runs in pytest threads and, after gevent's monkey-patching, in locust greenlets. After
the handshake the socket is non-blocking: a read or write is tried first and only waits
(poll, bounded by the read's timeout or the connect `timeout` for writes) when the kernel has
nothing to give or no room. A socket with a timeout would make CPython poll before every
call, and the old poll-then-read doubled that: one poll per message read, two syscalls
where one does (measured: poll and the thread hand-offs around it were a fifth of the
continuous fleet's CPU).

Threads: one reader (`recv`) at a time; `send`, `ping` and `close` may come from other
threads (writes are serialized by a lock; a `close` during a blocked `recv` waits briefly
for the reader to see the peer's close frame, then shuts the socket, which wakes it).

Heartbeat: as Couchbase Lite, a PING goes out after 5 minutes without a byte received and
the connection is dropped (HeartbeatTimeout, a transient network timeout) when nothing
answers within 20 s (`heartbeat`). The heartbeat runs inside `recv`, so only while someone
reads, which the replicator's driver always does.

Close semantics: `recv` returns None once the peer's close frame arrived (after we
answered it) or the TCP stream ended without one (Sync Gateway drops TCP when a database
goes offline); `close_code` is then the peer's status code, or None after a bare EOF.
"""

from __future__ import annotations

import contextlib
import logging
import math
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import NoReturn

from rig._errors import (
    ConnectError,
    ConnectionClosed,
    HeartbeatTimeout,
    ReadTimeout,
    TransportError,
    WebSocketProtocolError,
)
from rig.transport import _frames
from rig.transport._frames import (
    CLOSE_NORMAL,
    CLOSE_UNSUPPORTED_DATA,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameDecoder,
    FrameError,
    close_payload,
    encode_control,
    encode_frames,
    parse_close,
)
from rig.transport._handshake import Accepted, ClientHandshake, Rejected
from rig.transport.base import BasicAuth, SessionAuth
from rig.transport.heartbeat import HEARTBEAT_INTERVAL_S, PONG_TIMEOUT_S, Heartbeat, HeartbeatAction
from rig.transport.opening import READ_SIZE, plan_opening, raise_rejected

__all__ = ["DEFAULT_SUBPROTOCOLS", "WebSocketTransport"]

log = logging.getLogger("rig.transport")

DEFAULT_SUBPROTOCOLS: tuple[str, ...] = ("BLIP_3+CBMobile_3",)
CLOSE_GRACE_S = 2.0


class WebSocketTransport:
    """One client WebSocket connection carrying binary messages. Build it with `connect()`."""

    def __init__(self, sock: socket.socket, *, subprotocol: str, correlation_id: str | None,
                 io_timeout: float, max_message_size: int = _frames.DEFAULT_MAX_MESSAGE_SIZE,
                 url: str = "", heartbeat: tuple[float, float] | None = (HEARTBEAT_INTERVAL_S, PONG_TIMEOUT_S)
                 ) -> None:
        self._sock = sock
        self._tls = sock if isinstance(sock, ssl.SSLSocket) else None
        self._subprotocol = subprotocol
        self._correlation_id = correlation_id
        self._io_timeout = io_timeout
        self._url = url
        self._decoder = FrameDecoder(max_message_size)
        self._inbox: deque[bytes] = deque()
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._peer_closed = threading.Event()
        self._poller: select.poll | None = None
        sock.settimeout(0.0)  # non-blocking: see "Theory of operation"
        self._close_sent = False
        self._close_received = False
        self._closed = False
        self.close_code: int | None = None
        """The status code of the peer's close frame; None if none arrived (EOF, reset, local close)."""
        self.close_reason = ""
        """The reason of the peer's close frame, or a note on how the connection ended."""
        self.heartbeat = None if heartbeat is None else Heartbeat(time.monotonic(), interval=heartbeat[0],
                                                                   pong_timeout=heartbeat[1])
        """Couchbase Lite's PING after 5 minutes without a byte received (runs while someone reads)."""
        self.pongs_received = 0

    # Opening ---------------------------------------------------------------------------------
    @classmethod
    def connect(cls, url: str, *, subprotocols: Sequence[str] = DEFAULT_SUBPROTOCOLS,
                auth: BasicAuth | SessionAuth | None = None, timeout: float = 30.0,
                ssl_context: ssl.SSLContext | None = None, headers: Mapping[str, str] | None = None,
                max_message_size: int = _frames.DEFAULT_MAX_MESSAGE_SIZE,
                connect_to: tuple[str, int] | None = None,
                heartbeat: tuple[float, float] | None = (HEARTBEAT_INTERVAL_S, PONG_TIMEOUT_S)
                ) -> WebSocketTransport:
        """Open ``ws[s]://host:port/db/_blipsync`` (``http[s]://`` is mapped) and upgrade it.

        `subprotocols` go out in preference order (the gateway picks the first it speaks).
        `timeout` bounds connect + TLS + handshake together, and then every write.
        `ssl_context` defaults to the system trust store with hostname checks. `headers` are
        added to the upgrade request as given (a ``User-Agent`` there replaces ours).
        `max_message_size` bounds one incoming message (larger: close 1009, TransportError).
        `connect_to` is a (host, port) to open TCP to instead of the URL's (a link proxy of
        `rig.faults`); the Host header, the TLS server name and the URL stay the URL's.
        `heartbeat` is (interval, pong timeout) in seconds, as Couchbase Lite (300, 20), or None
        for no pings; `recv` sends the PING and raises HeartbeatTimeout when no answer comes.

        Raises ConnectError (refused, DNS, TLS, no answer in time), AuthenticationRejected
        (401), SubprotocolRejected (HTTP 500 "I only speak ...", or a 101 without one of
        ours), HandshakeRejected (any other status), TransportError (a broken answer).
        """
        plan = plan_opening(url, subprotocols=subprotocols, auth=auth, headers=headers, connect_to=connect_to)
        where, handshake = plan.where, plan.handshake
        deadline = time.monotonic() + timeout

        address = plan.address
        try:
            sock = socket.create_connection(address, timeout=timeout)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {address[0]}:{address[1]}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if plan.secure:
                context = ssl_context or ssl.create_default_context()
                try:
                    sock = context.wrap_socket(sock, server_hostname=plan.host)
                except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
                    raise ConnectError(f"TLS handshake with {plan.host}:{address[1]} failed: {exc}") from exc
            try:
                sock.sendall(handshake.request())
            except OSError as exc:
                raise ConnectError(f"cannot send the upgrade request to {where}: {exc}") from exc
            accepted = _read_handshake_answer(sock, handshake, deadline, timeout)
        except BaseException:
            sock.close()
            raise
        return cls.opened(sock, accepted, where=where, io_timeout=timeout, max_message_size=max_message_size,
                          heartbeat=heartbeat)

    @classmethod
    def opened(cls, sock: socket.socket, accepted: Accepted, *, where: str, io_timeout: float = 30.0,
               max_message_size: int = _frames.DEFAULT_MAX_MESSAGE_SIZE,
               heartbeat: tuple[float, float] | None = (HEARTBEAT_INTERVAL_S, PONG_TIMEOUT_S)
               ) -> WebSocketTransport:
        """The transport over a socket whose upgrade was accepted (`connect`, or a `NonBlockingOpen`)."""
        transport = cls(sock, subprotocol=accepted.subprotocol,
                        correlation_id=accepted.header("X-Correlation-ID"), io_timeout=io_timeout,
                        max_message_size=max_message_size, url=where, heartbeat=heartbeat)
        log.debug("connected to %s: %s, correlation id %s", where, transport.subprotocol,
                  transport.correlation_id)
        if accepted.trailing:
            with transport._read_lock:
                transport._absorb(accepted.trailing)
        return transport

    # Properties ------------------------------------------------------------------------------
    @property
    def subprotocol(self) -> str:
        """The subprotocol the gateway chose, e.g. ``BLIP_3+CBMobile_3``."""
        return self._subprotocol

    @property
    def correlation_id(self) -> str | None:
        """Sync Gateway's ``X-Correlation-ID`` (the BLIP context id in its logs), if it sent one."""
        return self._correlation_id

    @property
    def closed(self) -> bool:
        """True once the socket is shut (closed by us, by the peer, or broken)."""
        return self._closed

    @property
    def url(self) -> str:
        return self._url

    # Sending ---------------------------------------------------------------------------------
    def send(self, messages: Iterable[bytes]) -> None:
        """Each item as one binary message; the whole batch in one write."""
        data = encode_frames(messages)
        if data:
            self._write(data)

    def ping(self, payload: bytes = b"") -> None:
        """A WebSocket ping (keeps proxies from cutting an idle connection); the pong is swallowed."""
        self._write(encode_control(OP_PING, payload))

    def _write(self, data: bytes) -> None:
        with self._write_lock:
            if self._close_sent or self._closed:
                raise ConnectionClosed(f"cannot send on closed connection to {self._url}",
                                       code=self.close_code, reason=self.close_reason)
            try:
                self._send_all(data)
            except TimeoutError as exc:
                # Part of a frame may be out: the stream is unusable.
                self._abort("send timed out")
                raise TransportError(f"sending to {self._url} timed out after {self._io_timeout}s") from exc
            except OSError as exc:
                self._abort(f"connection lost while sending: {exc}")
                raise ConnectionClosed(f"connection to {self._url} lost while sending: {exc}",
                                       code=self.close_code, reason=self.close_reason) from exc

    def _send_all(self, data: bytes) -> None:
        """sendall on the non-blocking socket: waits (poll) only while the kernel's buffer is full;
        TimeoutError when no room came within the connect timeout (caller holds the write lock)."""
        sock = self._sock
        view = memoryview(data)
        deadline: float | None = None
        while view:
            try:
                sent = sock.send(view)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError, InterruptedError):
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._io_timeout
                elif now >= deadline:
                    raise TimeoutError("no room in the socket's send buffer") from None
                _wait_for(sock, select.POLLOUT, deadline)
                continue
            view = view[sent:]

    # Receiving -------------------------------------------------------------------------------
    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next binary message; None once closed; ReadTimeout after `timeout` seconds of nothing."""
        inbox = self._inbox
        if inbox:
            return inbox.popleft()
        if self._finished():
            return None
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        heartbeat = self.heartbeat
        sock = self._sock
        with self._read_lock:
            while True:
                if inbox:
                    return inbox.popleft()
                if self._finished():
                    return None
                try:
                    # Read first: when bytes are there (often, under load) no poll is needed at all.
                    data = sock.recv(READ_SIZE)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
                    wake = deadline
                    if heartbeat is not None:
                        self._beat(heartbeat)
                        due = heartbeat.next_due()
                        wake = due if deadline is None else min(deadline, due)
                    if not self._wait_readable(wake) and deadline is not None and time.monotonic() >= deadline:
                        raise ReadTimeout(f"no message from {self._url} within {timeout}s") from None
                    continue  # readable, or the heartbeat is due, or poll woke a little early
                except OSError as exc:
                    if not self._finished():  # else: close() from another thread shut the socket
                        self._on_eof(f"connection lost: {exc}")
                    return None
                if not data:
                    self._on_eof("the stream ended without a close frame")
                    return None
                if heartbeat is not None:
                    heartbeat.received(time.monotonic())
                self._absorb(data)

    def _beat(self, heartbeat: Heartbeat) -> None:
        """Send the heartbeat's PING when due; a PING unanswered in time ends the connection."""
        action = heartbeat.poll(time.monotonic())
        if action is HeartbeatAction.PING:
            log.debug("%s: nothing received for %.0f s, sending PING", self._url, heartbeat.interval)
            with contextlib.suppress(TransportError):  # the read side will see the end
                self.ping()
        elif action is HeartbeatAction.TIMED_OUT:
            message = f"no answer from {self._url} within {heartbeat.pong_timeout:g} s of a PING"
            self._abort(message)
            raise HeartbeatTimeout(message)

    def read_available(self) -> list[bytes] | None:
        """For an event loop that saw the socket readable: one non-blocking read, then every message
        complete so far ([] when the read brought only part of one); None once the connection ended.
        No heartbeat here: the loop's own timers would have to run it."""
        if not self._inbox and self._finished():
            return None
        with self._read_lock:
            try:
                data = self._sock.recv(READ_SIZE)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
                return self.take_buffered()
            except OSError as exc:
                if not self._finished():
                    self._on_eof(f"connection lost: {exc}")
                return self.take_buffered() or None
            if not data:
                self._on_eof("the stream ended without a close frame")
                return self.take_buffered() or None
            if self.heartbeat is not None:
                self.heartbeat.received(time.monotonic())
            self._absorb(data)
        return self.take_buffered()

    def fileno(self) -> int:
        """The socket's descriptor (for a selector); -1 once closed."""
        return self._sock.fileno()

    def beat(self) -> None:
        """For an event loop: the heartbeat's PING when due (the loop calls this on its timer, as `recv`
        does while it waits); raises HeartbeatTimeout, the connection dropped, when a PING went unanswered."""
        if self.heartbeat is not None and not self._finished():
            self._beat(self.heartbeat)

    def start_close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """For an event loop: send our close frame without waiting for the peer's (`read_available`
        then sees it and shuts the socket; the loop shuts it with `abort` if it never comes)."""
        if not self._closed:
            self._send_close(close_payload(code, reason.encode()[:123].decode("utf-8", "ignore")))

    def abort(self, note: str = "closed by the device") -> None:
        """Shut the socket now (no close handshake, or after it timed out)."""
        self._abort(note)

    def take_buffered(self) -> list[bytes]:
        """Every message already received and decoded, without waiting (the driver handles them all
        before it flushes its answers)."""
        inbox = self._inbox
        if not inbox:
            return []
        messages = list(inbox)
        inbox.clear()
        return messages

    def _finished(self) -> bool:
        return self._closed or self._close_received

    def _absorb(self, data: bytes) -> None:
        """Feed bytes to the decoder and act on what they complete (caller holds the read lock)."""
        try:
            events = self._decoder.feed(data)
        except FrameError as exc:
            self._fail(exc.code, f"WebSocket protocol error from {self._url}: {exc}")
        for opcode, payload in events:
            if opcode == OP_BINARY:
                self._inbox.append(payload)
            elif opcode == OP_PING:
                with contextlib.suppress(TransportError):  # the read side will see the end
                    self._write(encode_control(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self._on_close_frame(payload)
            elif opcode == OP_TEXT:
                self._fail(CLOSE_UNSUPPORTED_DATA, f"{self._url} sent a text message; BLIP is binary only")
            elif opcode == OP_PONG:
                self.pongs_received += 1

    def _on_close_frame(self, payload: bytes) -> None:
        try:
            code, reason = parse_close(payload)
        except FrameError as exc:
            self._fail(exc.code, f"invalid close frame from {self._url}: {exc}")
        self.close_code, self.close_reason = code, reason
        self._close_received = True
        log.debug("%s closed by peer: %s %r", self._url, code, reason)
        self._send_close(payload[:2])  # echo the status (RFC 6455 §5.5.1)
        self._peer_closed.set()
        self._shutdown()

    def _on_eof(self, note: str) -> None:
        self.close_code = None
        self.close_reason = note
        self._close_received = True
        self._peer_closed.set()
        self._shutdown()

    def _fail(self, code: int, message: str) -> NoReturn:
        """A protocol violation by the peer: close with `code`, drop the socket, raise."""
        self._send_close(close_payload(code))
        self._abort(message)
        raise WebSocketProtocolError(message, code=code)

    def _wait_readable(self, deadline: float | None) -> bool:
        if self._tls is not None and self._tls.pending():
            return True  # decrypted bytes already buffered inside the TLS object
        sock = self._sock
        wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        if not hasattr(select, "poll"):  # pragma: no cover - Windows
            readable, _, _ = select.select([sock], [], [], wait)
            return bool(readable)
        poller = self._poller
        if poller is None:
            poller = self._poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(None if wait is None else math.ceil(wait * 1000)))

    # Closing ---------------------------------------------------------------------------------
    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Send a close frame, wait up to 2 s for the peer's, shut the socket. Idempotent."""
        if self._closed:
            return
        # A close frame's reason holds at most 123 bytes of UTF-8.
        reason = reason.encode()[:123].decode("utf-8", "ignore")
        try:
            self._send_close(close_payload(code, reason))
            if self._close_received or self._closed:
                return
            deadline = time.monotonic() + min(CLOSE_GRACE_S, self._io_timeout)
            if self._read_lock.acquire(blocking=False):
                try:
                    self._await_close_frame(deadline)
                finally:
                    self._read_lock.release()
            else:
                # Another thread is in recv(): it will see the peer's close frame.
                self._peer_closed.wait(max(deadline - time.monotonic(), 0.0))
        finally:
            self._inbox.clear()
            self._shutdown()

    def _send_close(self, payload: bytes) -> None:
        """Our close frame, at most once, best effort (the peer may be gone already)."""
        with self._write_lock:
            if self._close_sent or self._closed:
                return
            self._close_sent = True
            try:
                self._send_all(encode_control(OP_CLOSE, payload))
            except OSError as exc:
                log.debug("%s: close frame not sent: %s", self._url, exc)

    def _await_close_frame(self, deadline: float) -> None:
        while not self._close_received and not self._closed:
            if not self._wait_readable(deadline):
                self.close_reason = "no close frame from the peer in time"
                return
            try:
                data = self._sock.recv(READ_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError, InterruptedError):
                continue
            except OSError:
                return
            if not data:
                self.close_reason = "the stream ended without a close frame"
                return
            try:
                events = self._decoder.feed(data)
            except FrameError:
                return
            for opcode, payload in events:
                if opcode == OP_CLOSE:
                    with contextlib.suppress(FrameError):
                        self.close_code, self.close_reason = parse_close(payload)
                    self._close_received = True
                    self._peer_closed.set()

    def _abort(self, note: str) -> None:
        if not self._closed:
            self.close_reason = note
            log.debug("%s aborted: %s", self._url, note)
        self._close_sent = True
        self._shutdown()

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        sock = self._sock
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def __enter__(self) -> WebSocketTransport:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<WebSocketTransport {self._url} {self._subprotocol} {state}>"


def _wait_for(sock: socket.socket, events: int, deadline: float) -> None:
    """Wait (poll) until `sock` has `events` or `deadline` passes; the caller retries either way."""
    wait = max(deadline - time.monotonic(), 0.0)
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        select.select([], [sock], [], wait)
        return
    poller = select.poll()
    poller.register(sock.fileno(), events)
    poller.poll(math.ceil(wait * 1000))


def _read_handshake_answer(sock: socket.socket, handshake: ClientHandshake, deadline: float,
                           timeout: float) -> Accepted:
    """Read until the handshake's outcome; return the 101 or raise the typed rejection."""
    where = handshake.where
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConnectError(f"no complete handshake answer from {where} within {timeout}s", timed_out=True)
        sock.settimeout(remaining)
        try:
            data = sock.recv(READ_SIZE)
        except TimeoutError as exc:
            raise ConnectError(f"no complete handshake answer from {where} within {timeout}s",
                               timed_out=True) from exc
        except OSError as exc:
            raise ConnectError(f"connection to {where} failed during the handshake: {exc}") from exc
        outcome = handshake.receive(data)
        if isinstance(outcome, Accepted):
            return outcome
        if isinstance(outcome, Rejected):
            raise_rejected(outcome.status, outcome.body.decode("utf-8", "replace"), where)
        if not data:
            raise ConnectError(f"{where} closed the connection during the handshake", eof=True)
