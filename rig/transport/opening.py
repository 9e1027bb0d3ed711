"""Opening a WebSocket: the plan (where to connect, what to send) and a non-blocking open for event
loops.

`WebSocketTransport.connect()` opens on the caller's thread, blocking. An event loop carrying
thousands of devices (rig.device.loop) cannot give each connect a thread: in a wake storm every
device connects at once, and thousands of threads contending for the GIL time the rig, not the
gateway. `NonBlockingOpen` is the same open (TCP, the upgrade request, the 101 or the typed
rejection) as a state machine the loop drives on readiness: `prepare()` makes the socket and the
request (nothing sent), `start()` connects and gives the socket's descriptor, `events()` what to
wait for, `ready()` advances and returns the transport once open. Plain ``ws://`` only (a TLS
handshake on a non-blocking socket needs its own states; no caller needs it yet). Name resolution
stays blocking (`getaddrinfo`): immediate for the IP literals and ``localhost`` of a local gateway,
and cached per host and port.
"""

from __future__ import annotations

import errno
import functools
import os
import select
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

from rig._errors import AuthenticationRejected, ConnectError, HandshakeRejected, SubprotocolRejected
from rig.transport._handshake import Accepted, ClientHandshake, Rejected
from rig.transport.base import BasicAuth, SessionAuth

USER_AGENT = "couchbase-mobile-rig/0.1 (virtual Couchbase Lite)"
READ_SIZE = 64 * 1024
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


@dataclass(slots=True)
class Opening:
    """One open's plan, from the URL and options: TCP to `address`, the upgrade from `handshake`."""

    address: tuple[str, int]
    host: str
    """The URL's host: the TLS server name."""
    secure: bool
    where: str
    """``ws[s]://host[:port]/path``, for messages."""
    handshake: ClientHandshake


def plan_opening(url: str, *, subprotocols: Sequence[str] | str, auth: BasicAuth | SessionAuth | None,
                 headers: Mapping[str, str] | None = None, connect_to: tuple[str, int] | None = None) -> Opening:
    """The plan for `url` (``ws[s]://``, ``http[s]://`` mapped); see `WebSocketTransport.connect`."""
    if isinstance(subprotocols, str):
        subprotocols = (subprotocols,)
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(f"not a ws://, wss://, http:// or https:// URL: {url!r}")
    secure = scheme == "wss"
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in URL {url!r}")
    default_port = 443 if secure else 80
    port = parts.port or default_port
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header = f"{host_header}:{port}"
    where = f"{scheme}://{host_header}{parts.path}"
    given = dict(headers or {})
    extra = [] if any(k.lower() == "user-agent" for k in given) else [("User-Agent", USER_AGENT)]
    if auth is not None:
        extra.append(auth.header())
    extra.extend(given.items())
    handshake = ClientHandshake(host_header, target, subprotocols, extra, where=where)
    return Opening(connect_to or (host, port), host, secure, where, handshake)


def raise_rejected(status: int, body: str, where: str) -> NoReturn:
    """The typed error for a non-101 answer to the upgrade."""
    if status == 401:
        raise AuthenticationRejected(f"{where} refused the credentials", status=status, body=body)
    if status == 500 and body.lstrip().startswith("I only speak"):
        raise SubprotocolRejected(f"{where} speaks none of the offered subprotocols", status=status, body=body)
    raise HandshakeRejected(f"{where} refused the WebSocket upgrade", status=status, body=body)


class NonBlockingOpen:
    """TCP connect and upgrade on a non-blocking socket, driven by whoever waits on `fileno()`.

    `start()` (the connect is under way), then on each readiness `ready()`: None while not done,
    the connected socket and the 101 once open; it raises what `WebSocketTransport.connect` raises
    (ConnectError, AuthenticationRejected, ...). `abort()` gives up (closes the socket)."""

    def __init__(self, opening: Opening) -> None:
        if opening.secure:
            raise ValueError(f"{opening.where}: non-blocking opens are plain ws:// only (TLS: connect() on a thread)")
        self.opening = opening
        self._sock: socket.socket | None = None
        self._address: Any = None
        self._unsent = b""
        self._sent = False
        self.done = False

    def prepare(self) -> int:
        """The socket and the upgrade request, nothing sent yet (what an app does before its first packet,
        so a bench can do it before the instant it measures from); the socket's descriptor."""
        if self._sock is not None:
            return self._sock.fileno()
        host, port = self.opening.address
        try:
            family, kind, proto, _, address = _resolve(host, port)
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        sock.setblocking(False)
        self._sock = sock
        self._address = address
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            self.abort()
            raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        self._unsent = self.opening.handshake.request()
        return sock.fileno()

    def start(self) -> int:
        """Begin the TCP connect (after `prepare()`, which it does if not done); the socket's descriptor,
        to wait on for `events()`."""
        fd = self.prepare()
        sock = self._sock
        assert sock is not None
        host, port = self.opening.address
        try:
            error = sock.connect_ex(self._address)
        except OSError as exc:
            self.abort()
            raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        if error not in (0, errno.EINPROGRESS):
            self.abort()
            raise ConnectError(f"cannot connect to {host}:{port}: [Errno {error}] {_strerror(error)}")
        return fd

    def events(self) -> int:
        """What to wait for now: writable until the request is out (the connect's end), then readable."""
        return select.EPOLLIN if self._sent else select.EPOLLOUT

    def ready(self) -> tuple[socket.socket, Accepted] | None:
        sock = self._sock
        assert sock is not None, "start() first"
        try:
            if not self._sent:
                self._send(sock)
                return None
            return self._receive(sock)
        except BaseException:
            self.abort()
            raise

    def _send(self, sock: socket.socket) -> None:
        """The connect's end (writable): its error, or the upgrade request out."""
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            host, port = self.opening.address
            raise ConnectError(f"cannot connect to {host}:{port}: [Errno {error}] {_strerror(error)}")
        try:
            sent = sock.send(self._unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            raise ConnectError(f"cannot send the upgrade request to {self.opening.where}: {exc}") from exc
        self._unsent = self._unsent[sent:]
        self._sent = not self._unsent

    def _receive(self, sock: socket.socket) -> tuple[socket.socket, Accepted] | None:
        where = self.opening.where
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            raise ConnectError(f"connection to {where} failed during the handshake: {exc}") from exc
        outcome = self.opening.handshake.receive(data)
        if isinstance(outcome, Accepted):
            self.done = True
            self._sock = None  # the caller's now
            return sock, outcome
        if isinstance(outcome, Rejected):
            raise_rejected(outcome.status, outcome.body.decode("utf-8", "replace"), where)
        if not data:
            raise ConnectError(f"{where} closed the connection during the handshake", eof=True)
        return None

    def abort(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


@functools.lru_cache(maxsize=64)
def _resolve(host: str, port: int) -> tuple[Any, ...]:
    """The first address of `host`: asked once per host and port (a wake storm opens thousands at once)."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]


def _strerror(error: int) -> str:
    return os.strerror(error)
