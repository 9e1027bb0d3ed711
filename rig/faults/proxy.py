"""A loopback TCP proxy in front of the real Sync Gateway: one device link, shaped, cut or corrupted.

Devices connect to the proxy instead of the gateway (`VirtualDevice.via`); the proxy opens
a connection to the gateway for each one and moves bytes both ways, through the model of
`rig.faults.link` when a `LinkQuality` is given (latency, bandwidth, loss as stalls: every
connection gets its own pair of pipes). It can

- **cut** connections: all at once now (`cut_all`), or each one after so many bytes went
  from the gateway to the device or after so many seconds (`CutPlan`); by a TCP reset
  (the device's read fails with ECONNRESET) or a plain close (EOF);
- **refuse** every connection while its link is down (`set_down`): open ones are cut
  and new ones reset as soon as they are accepted, so the device's handshake fails
  (`ConnectError`), as when the gateway is off its network;
- **corrupt** what the gateway sends once the WebSocket handshake is over (`Corruption`:
  from an offset counted after the end of the 101 response, XOR a byte range or all that
  follows), so the device meets broken WebSocket or BLIP frames from a real gateway.

Threads: one accept thread; per connection a reader per direction, plus a writer per
direction when the link is shaped (the reader timestamps segments, the writer sends each
when it is due). Every wait is bounded (0.25 s polls) and every loop ends when the
connection or the proxy closes, or when a connection outlives `max_connection_s`. Queued
bytes per direction are bounded (`max_queue_bytes`): a full queue stops the reader, so
TCP's own flow control pushes back on the sender. On a shaped link the proxy's sockets get
small kernel buffers (`socket_buffer`, 64 KiB): loopback would otherwise autotune them to
megabytes, and a reply (a checkpoint saved, say) would wait behind all of them, far longer
than behind a real slow link's queue. The proxy listens on loopback only.
"""

from __future__ import annotations

import contextlib
import random
import select
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass

from rig._errors import ConfigError
from rig.faults.link import LinkQuality, Pipe

_POLL_S = 0.25
_READ = 64 * 1024
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, slots=True)
class Corruption:
    """Gateway-to-device bytes spoiled after the WebSocket handshake (after the 101 response's blank line)."""

    offset: int = 0
    length: int | None = 1
    """Bytes to spoil from `offset`; None: every byte from `offset` on."""
    xor: int | None = 0xFF
    """XOR mask for each spoiled byte; None: a random non-zero byte each (seeded)."""


@dataclass(frozen=True, slots=True)
class CutPlan:
    """When the proxy cuts each connection by itself."""

    after_down_bytes: int | None = None
    """Once this many bytes went gateway to device (from the connection's first byte), the rest is dropped."""
    after_s: float | None = None
    """Seconds after the device connected."""
    reset: bool = True
    """A TCP reset (ECONNRESET at the device), or False for a plain close (EOF)."""


@dataclass(slots=True)
class ProxyStats:
    connections: int = 0
    refused: int = 0
    """Connections turned away because `max_connections` were open."""
    refused_down: int = 0
    """Connections reset at once because the link was down (`set_down`)."""
    upstream_failures: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    cuts: int = 0
    stalls: int = 0
    corrupted_bytes: int = 0


class _Queue:
    """Timed segments of one direction, bounded in bytes."""

    def __init__(self, limit: int) -> None:
        self.items: deque[tuple[float, bytes]] = deque()
        self.size = 0
        self.limit = limit
        self.eof = False
        self.cut_when_drained = False
        self.cond = threading.Condition()


class _Connection:
    def __init__(self, proxy: LinkProxy, client: socket.socket, server: socket.socket, number: int) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.number = number
        self.started = time.monotonic()
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._rng = random.Random(proxy.seed * 1_000_003 + number)
        quality = proxy.quality
        self.pipes: tuple[Pipe, Pipe] | None = None if quality is None else quality.pipes(self._rng)
        self.down_bytes = 0
        self._ended = 0
        self._head_tail = b""
        self._body_pos: int | None = None

    def start(self) -> None:
        for name, src, dst, index in (("up", self.client, self.server, 0), ("down", self.server, self.client, 1)):
            pipe = None if self.pipes is None else self.pipes[index]
            queue = None if pipe is None else _Queue(self.proxy.max_queue_bytes)
            threading.Thread(target=self._read, args=(src, dst, pipe, queue, index == 1), daemon=True,
                             name=f"link-{self.number}-{name}-read").start()
            if queue is not None:
                threading.Thread(target=self._write, args=(dst, queue), daemon=True,
                                 name=f"link-{self.number}-{name}-write").start()

    # Faults ----------------------------------------------------------------------------------
    def cut(self, *, reset: bool = True, count: bool = True) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
        if count:
            self.proxy._count(cuts=1)
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self.proxy._forget(self)

    def _direction_ended(self, dst: socket.socket) -> None:
        """One side finished sending: pass the half-close on; once both have, close the connection."""
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with self._lock:
            self._ended += 1
            both = self._ended == 2
        if both:
            self.cut(reset=False, count=False)

    def _expired(self) -> bool:
        age = time.monotonic() - self.started
        plan = self.proxy.cut_plan
        if plan is not None and plan.after_s is not None and age >= plan.after_s:
            self.cut(reset=plan.reset)
            return True
        if age >= self.proxy.max_connection_s:
            self.cut(reset=True)
            return True
        return self.closed.is_set() or self.proxy.closed

    def _spoil(self, data: bytes) -> bytes:
        """Apply the corruption to gateway-to-device bytes (positions counted after the handshake)."""
        spec = self.proxy.corruption
        if spec is None:
            return data
        start_in_data = 0
        if self._body_pos is None:
            buf = self._head_tail + data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._head_tail = buf[-3:]
                return data
            start_in_data = end + 4 - len(self._head_tail)
            self._body_pos = 0
        pos = self._body_pos
        body_len = len(data) - start_in_data
        self._body_pos = pos + body_len
        lo = max(spec.offset - pos, 0)
        hi = body_len if spec.length is None else min(spec.offset + spec.length - pos, body_len)
        if lo >= hi:
            return data
        out = bytearray(data)
        for i in range(start_in_data + lo, start_in_data + hi):
            out[i] ^= spec.xor if spec.xor is not None else self._rng.randrange(1, 256)
        self.proxy._count(corrupted_bytes=hi - lo)
        return bytes(out)

    # Pumps -----------------------------------------------------------------------------------
    def _read(self, src: socket.socket, dst: socket.socket, pipe: Pipe | None, queue: _Queue | None,
              down: bool) -> None:
        plan = self.proxy.cut_plan
        try:
            while not self._expired():
                try:
                    readable, _, _ = select.select([src], [], [], _POLL_S)
                    if not readable:
                        continue
                    data = src.recv(_READ)
                except (OSError, ValueError):
                    break
                if not data:
                    break
                cut_now = False
                if down:
                    data = self._spoil(data)
                    if plan is not None and plan.after_down_bytes is not None:
                        room = plan.after_down_bytes - self.down_bytes
                        if room <= len(data):
                            data, cut_now = data[:max(room, 0)], True
                    self.down_bytes += len(data)
                self.proxy._count(**{"bytes_down" if down else "bytes_up": len(data)})
                if queue is None or pipe is None:
                    if data:
                        dst.sendall(data)
                    if cut_now:
                        self.cut(reset=plan.reset if plan else True)
                        return
                    continue
                if not self._enqueue(queue, pipe, data) or cut_now:
                    with queue.cond:
                        queue.cut_when_drained = cut_now
                        queue.eof = True
                        queue.cond.notify_all()
                    return
        except OSError:
            self.cut(reset=True, count=False)
            return
        if queue is not None:
            with queue.cond:
                queue.eof = True
                queue.cond.notify_all()
        elif not self.closed.is_set():
            self._direction_ended(dst)

    def _enqueue(self, queue: _Queue, pipe: Pipe, data: bytes) -> bool:
        with queue.cond:
            while queue.size >= queue.limit:
                if self._expired():
                    return False
                queue.cond.wait(_POLL_S)
            before = pipe.stalls
            pos = 0
            for due, length in pipe.schedule(time.monotonic(), len(data)):
                segment = data[pos:pos + length]
                pos += length
                if queue.items and queue.items[-1][0] >= due - 0.001:
                    last_due, last = queue.items.pop()  # due together: one write
                    queue.items.append((last_due, last + segment))
                else:
                    queue.items.append((due, segment))
            queue.size += len(data)
            queue.cond.notify_all()
        if pipe.stalls != before:
            self.proxy._count(stalls=pipe.stalls - before)
        return True

    def _write(self, dst: socket.socket, queue: _Queue) -> None:
        while True:
            with queue.cond:
                if self.closed.is_set() or self.proxy.closed:
                    return
                if not queue.items:
                    if queue.eof:
                        break
                    queue.cond.wait(_POLL_S)
                    continue
                due, data = queue.items[0]
                wait = due - time.monotonic()
                if wait > 0:
                    queue.cond.wait(min(wait, _POLL_S))
                    continue
                queue.items.popleft()
                queue.size -= len(data)
                queue.cond.notify_all()
            try:
                dst.sendall(data)
            except OSError:
                self.cut(reset=True, count=False)
                return
        plan = self.proxy.cut_plan
        if queue.cut_when_drained:
            self.cut(reset=plan.reset if plan else True)
        elif not self.closed.is_set():
            self._direction_ended(dst)


class LinkProxy:
    """Listens on loopback; each device connection becomes a shaped connection to `upstream`."""

    def __init__(self, upstream: tuple[str, int], quality: LinkQuality | None = None, *,
                 listen: tuple[str, int] = ("127.0.0.1", 0), seed: int = 0,
                 cut_plan: CutPlan | None = None, corruption: Corruption | None = None,
                 max_connections: int = 4096, max_queue_bytes: int = 256 * 1024,
                 max_connection_s: float = 6 * 3600.0, connect_timeout: float = 10.0,
                 socket_buffer: int | None = 64 * 1024) -> None:
        if listen[0] not in _LOOPBACK:
            raise ConfigError(f"a link proxy listens on loopback only, not {listen[0]!r}")
        self.upstream = upstream
        self.quality = quality
        self.seed = seed
        self.cut_plan = cut_plan
        """Read by each connection as it moves bytes: may be changed while the proxy runs."""
        self.corruption = corruption
        self.max_connections = max_connections
        self.max_queue_bytes = max_queue_bytes
        self.max_connection_s = max_connection_s
        self.connect_timeout = connect_timeout
        self.socket_buffer = socket_buffer
        """Kernel buffer of a shaped connection's sockets (see the module doc); None: the kernel's default."""
        self.stats = ProxyStats()
        self.closed = False
        self.down = False
        """While True every connection is refused (see `set_down`)."""
        self._lock = threading.Lock()
        self._live: dict[int, _Connection] = {}
        self._numbers = 0
        self._listener = socket.create_server(listen, backlog=512)
        self._listener.settimeout(_POLL_S)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept, daemon=True, name=f"link-proxy-{self.address[1]}")
        self._thread.start()

    @property
    def url_netloc(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._live)

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._live.pop(connection.number, None)

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                full = len(self._live) >= self.max_connections
                self._numbers += 1
                number = self._numbers
            if self.down:
                self._count(refused_down=1)
                with contextlib.suppress(OSError):
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            if full:
                self._count(refused=1)
                client.close()
                continue
            threading.Thread(target=self._open, args=(client, number), daemon=True,
                             name=f"link-{number}-open").start()

    def _connect_upstream(self) -> socket.socket:
        family, kind, proto, _, address = socket.getaddrinfo(*self.upstream, type=socket.SOCK_STREAM)[0]
        server = socket.socket(family, kind, proto)
        try:
            if self.quality is not None and self.socket_buffer:
                # Before connect, so the window the gateway sees is small from the start.
                server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.socket_buffer)
            server.settimeout(self.connect_timeout)
            server.connect(address)
        except BaseException:
            server.close()
            raise
        return server

    def _open(self, client: socket.socket, number: int) -> None:
        try:
            server = self._connect_upstream()
        except OSError:
            # The gateway is unreachable: the device sees its connection closed during the handshake.
            self._count(upstream_failures=1)
            client.close()
            return
        for sock in (client, server):
            sock.settimeout(30.0)  # bounds each write; reads poll with select
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.quality is not None and self.socket_buffer:
            with contextlib.suppress(OSError):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.socket_buffer)
        connection = _Connection(self, client, server, number)
        with self._lock:
            if self.closed:
                client.close()
                server.close()
                return
            self._live[number] = connection
            self.stats.connections += 1
        connection.start()

    def cut_all(self, *, reset: bool = True) -> int:
        """Cut every open connection now (the link drops); returns how many."""
        with self._lock:
            live = list(self._live.values())
        for connection in live:
            connection.cut(reset=reset)
        return len(live)

    def set_down(self, down: bool) -> int:
        """Take the link down (cut every open connection, refuse new ones) or bring it up; returns the cuts."""
        self.down = down
        return self.cut_all() if down else 0

    def close(self) -> None:
        """Stop accepting and drop every connection; the threads end within a poll interval."""
        self.closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            live = list(self._live.values())
        for connection in live:
            connection.cut(reset=True, count=False)
        self._thread.join(2 * _POLL_S + 1)

    def __enter__(self) -> LinkProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
