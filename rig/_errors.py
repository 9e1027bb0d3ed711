"""Typed errors of the rig, all rooted at :class:`RigError`.

Tree::

    RigError
    ├── ConfigError              bad input files or options (names file and key)
    ├── BlipProtocolError        the BLIP codec met bytes it cannot accept
    │   ├── LocalBlipError       we were asked to send something invalid
    │   └── RemoteBlipError      the peer sent something invalid (bad CRC, truncated frame, ...)
    ├── TransportError           socket / WebSocket level
    │   ├── ConnectError
    │   ├── HandshakeRejected    HTTP status other than 101 (carries status and body)
    │   │   ├── AuthenticationRejected  401
    │   │   └── SubprotocolRejected     no acceptable BLIP subprotocol
    │   ├── ReadTimeout
    │   ├── HeartbeatTimeout     no pong within the timeout after a WebSocket ping
    │   ├── ConnectionClosed     carries the close code (1006: the stream ended without a close frame)
    │   │   └── RemoteUnavailable  a BLIP error 503: the device closed with 4001 to reconnect
    │   └── WebSocketProtocolError  the peer broke RFC 6455 (carries the close code we answered)
    ├── ReplicationError         the replication could not proceed (BLIP ERR from the peer, ...)
    │   └── RemoteDataError      a well-framed message whose content makes no sense (not JSON, wrong shape)
    └── GatewayError             controlling Sync Gateway
        ├── GatewayBuildError
        ├── GatewayStartError    carries the last log lines
        ├── GatewayUnsupported   lifecycle call on a controller that cannot do it
        ├── SyncFunctionRefused  the gateway cannot compile a sync function (names the file)
        └── AdminApiError        carries method, URL, status and body
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RigError(Exception):
    """Root of every error the rig raises on purpose."""


class ConfigError(RigError):
    """A configuration file or option is invalid; the message names the file and key."""


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` naming the known word closest to a misspelt `word`, or ``""``."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class BlipProtocolError(RigError):
    """The BLIP codec cannot accept some bytes or some request."""


class LocalBlipError(BlipProtocolError):
    """We tried to send something that BLIP cannot carry."""


class RemoteBlipError(BlipProtocolError):
    """The peer sent bytes that break the BLIP protocol."""


class TransportError(RigError):
    """The connection to the peer failed."""


class ConnectError(TransportError):
    """The TCP/TLS connection could not be made (the OSError, if any, is the `__cause__`)."""

    def __init__(self, message: str, *, eof: bool = False, timed_out: bool = False) -> None:
        super().__init__(message)
        self.eof = eof
        """The peer ended the stream before a complete handshake answer (LiteCore: HTTP 400 "Unexpected EOF")."""
        self.timed_out = timed_out
        """No complete handshake answer in time."""


class HandshakeRejected(TransportError):
    """The WebSocket upgrade was answered with something other than 101."""

    def __init__(self, message: str, *, status: int, body: str) -> None:
        super().__init__(f"{message} (HTTP {status}: {body[:300]})")
        self.status = status
        self.body = body


class AuthenticationRejected(HandshakeRejected):
    """The gateway refused our credentials (HTTP 401)."""


class SubprotocolRejected(HandshakeRejected):
    """The gateway speaks none of the BLIP subprotocols we offered."""


class ReadTimeout(TransportError):
    """Nothing arrived within the read timeout."""


class HeartbeatTimeout(TransportError):
    """Nothing came back within the pong timeout after a WebSocket ping: the connection is dead."""


class ConnectionClosed(TransportError):
    """The peer closed the connection (or the TCP stream ended)."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(f"{message} (code={code}, reason={reason!r})")
        self.code = code
        """The close frame's status code; 1006 when the stream ended without one; None if unknown."""
        self.reason = reason


class RemoteUnavailable(ConnectionClosed):
    """The gateway answered a request with a BLIP error HTTP 503; the device closed with 4001 to reconnect.

    As LiteCore's Replicator::onError: WebSocket 503 is a stopping error ("The server is
    over capacity") that closes the connection with kCloseAppTransient (4001), and retries.
    """

    def __init__(self, message: str, *, profile: str, status: int = 503) -> None:
        super().__init__(message, code=4001, reason=f"{profile}: HTTP {status}")
        self.profile = profile
        self.status = status


class WebSocketProtocolError(TransportError):
    """The peer sent bytes that break RFC 6455 (bad frame header, text message, bad close frame)."""

    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message)
        self.code = code


class ReplicationError(RigError):
    """The replication could not proceed."""


class RemoteDataError(ReplicationError):
    """The gateway sent a well-formed BLIP message whose content the replicator cannot accept.

    Bodies that are not JSON, rows of the wrong shape, sequences that cannot be compared:
    a protocol error of that connection, like RemoteBlipError one layer up.
    """

    def __init__(self, message: str, *, profile: str) -> None:
        super().__init__(message)
        self.profile = profile


class GatewayError(RigError):
    """Controlling Sync Gateway failed."""


class GatewayBuildError(GatewayError):
    """Building Sync Gateway from source failed."""


class GatewayStartError(GatewayError):
    """Sync Gateway did not start or did not become ready; carries the log tail."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        text = message if not log_tail else f"{message}\n--- last log lines ---\n{log_tail}"
        super().__init__(text)
        self.log_tail = log_tail


class GatewayUnsupported(GatewayError):
    """The controller cannot do this (e.g. restarting a gateway given only by URL)."""


class SyncFunctionRefused(GatewayError):
    """Sync Gateway refused a sync function (its JavaScript engine cannot compile it)."""

    def __init__(self, origin: str, reason: str) -> None:
        super().__init__(f"{origin}: Sync Gateway refused the sync function: {reason}")
        self.origin = origin
        self.reason = reason


class AdminApiError(GatewayError):
    """An admin REST call failed."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} -> HTTP {status}: {body[:500]}")
        self.method = method
        self.url = url
        self.status = status
        self.body = body
