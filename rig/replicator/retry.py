"""When a failed replication is tried again, exactly as Couchbase Lite does it (pure: no clock, no sleep).

LiteCore's `C4RemoteReplicator` (Replicator/c4RemoteReplicator.hh): after an error it
retries if `C4Error::mayBeTransient()`, or, for a continuous replicator, if
`mayBeNetworkDependent()` (the host counts as reachable unless the app says otherwise).
The wait before retry n is 2**n s (2, 4, 8, ...), pinned at 300 s; a one-shot replicator
gives up after 9 retries, a continuous one never; and the count goes back to 0 on every
successful connect (`handleConnected`), so a device that dropped a few times waits 2 s
again, not minutes.

The rig's typed errors are first mapped to the (domain, code) LiteCore would report
(`litecore_error`); the two sets below are C/c4Error.cc's, code for code. What follows
from them: refused, reset, aborted, timed out, DNS failure, HTTP 408/429/502/503/504 and
close codes 1006 (no close frame) and 4001 are transient; HTTP 500, 401, a refused
subprotocol, protocol errors and a normal close by the gateway (LiteCore reads it as
1001, going away) are not: the replicator stops.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass

from rig._errors import (
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    HeartbeatTimeout,
    ReadTimeout,
    RemoteBlipError,
    RemoteDataError,
    SubprotocolRejected,
    TransportError,
    WebSocketProtocolError,
)

ONE_SHOT_MAX_RETRIES = 9
MAX_DELAY_S = 300.0

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_ABNORMAL = 1006
"""The stream ended without a close frame (never sent on the wire)."""
CLOSE_APP_TRANSIENT = 4001
CLOSE_APP_PERMANENT = 4002

# C4Error::mayBeTransient ------------------------------------------------------------------------
_TRANSIENT_POSIX = frozenset({errno.ENETRESET, errno.ECONNABORTED, errno.ECONNRESET, errno.ETIMEDOUT,
                              errno.ECONNREFUSED})
_TRANSIENT_NETWORK = frozenset({"DNSFailure", "Timeout", "NetworkReset", "ConnectionAborted", "ConnectionReset",
                                "ConnectionRefused"})
_TRANSIENT_WEBSOCKET = frozenset({408, 429, 502, 503, 504, CLOSE_ABNORMAL, CLOSE_APP_TRANSIENT})
# C4Error::mayBeNetworkDependent -----------------------------------------------------------------
_UNREACHABLE_POSIX = frozenset({errno.ENETDOWN, errno.ENETUNREACH, errno.ENOTCONN, errno.ETIMEDOUT,
                                errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EPIPE})
_UNREACHABLE_NETWORK = frozenset({"DNSFailure", "UnknownHost", "NetworkDown", "NetworkUnreachable", "NotConnected",
                                  "Timeout", "HostDown", "HostUnreachable", "AddressNotAvailable", "BrokenPipe",
                                  "UnknownInterface"})


@dataclass(frozen=True, slots=True)
class LiteCoreError:
    """The C4Error LiteCore would hold for a failure: a domain and a code (Network codes by name)."""

    domain: str
    """"POSIX", "Network", "WebSocket" (HTTP statuses and close codes) or "LiteCore"."""
    code: int | str

    @property
    def may_be_transient(self) -> bool:
        if self.domain == "POSIX":
            return self.code in _TRANSIENT_POSIX
        if self.domain == "Network":
            return self.code in _TRANSIENT_NETWORK
        return self.domain == "WebSocket" and self.code in _TRANSIENT_WEBSOCKET

    @property
    def may_be_network_dependent(self) -> bool:
        if self.domain == "POSIX":
            return self.code in _UNREACHABLE_POSIX
        return self.domain == "Network" and self.code in _UNREACHABLE_NETWORK

    def __str__(self) -> str:
        return f"{self.domain} {self.code}"


_REMOTE_ERROR = LiteCoreError("LiteCore", "RemoteError")
_TIMEOUT = LiteCoreError("Network", "Timeout")


def _from_os_error(exc: BaseException) -> LiteCoreError | None:
    """What LiteCore's TCPSocket and sockpp make of a socket-level failure."""
    if isinstance(exc, socket.gaierror):
        # LiteCore/Support/Error.cc: EAI_NONAME is an unknown host, anything else a DNS failure.
        return LiteCoreError("Network", "UnknownHost" if exc.errno == socket.EAI_NONAME else "DNSFailure")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return LiteCoreError("Network", "TLSCertUntrusted")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return LiteCoreError("Network", "TLSHandshakeFailed")
    if isinstance(exc, TimeoutError) and exc.errno in (None, 0):
        return _TIMEOUT  # a socket timeout: LiteCore's EWOULDBLOCK in blocking mode, kC4NetErrTimeout
    if isinstance(exc, OSError) and exc.errno:
        return LiteCoreError("POSIX", exc.errno)
    return None


def litecore_error(error: BaseException) -> LiteCoreError:
    """The (domain, code) LiteCore would report for `error`, the rig's typed error for a failure."""
    if isinstance(error, ConnectionClosed):
        cause = error.__cause__
        if error.code is None and cause is not None:
            from_cause = _from_os_error(cause)  # lost while sending: the socket's errno, as LiteCore
            if from_cause is not None:
                return from_cause
        code = CLOSE_ABNORMAL if error.code is None else error.code
        # Replicator::_onClose: a normal close the device did not start is taken as 1001 (going away).
        return LiteCoreError("WebSocket", CLOSE_GOING_AWAY if code == CLOSE_NORMAL else code)
    if isinstance(error, SubprotocolRejected):
        return LiteCoreError("WebSocket", error.status if error.status != 101 else CLOSE_PROTOCOL_ERROR)
    if isinstance(error, HandshakeRejected):  # 401 (AuthenticationRejected) included
        return LiteCoreError("WebSocket", error.status)
    if isinstance(error, ConnectError):
        cause = error.__cause__
        from_cause = None if cause is None else _from_os_error(cause)
        if from_cause is not None:
            return from_cause
        if error.eof:
            return LiteCoreError("WebSocket", 400)  # TCPSocket::readToDelimiter: "Unexpected EOF"
        if error.timed_out:
            return _TIMEOUT
        return LiteCoreError("POSIX", errno.ECONNREFUSED)  # a ConnectError that names no cause
    if isinstance(error, HeartbeatTimeout | ReadTimeout):
        return _TIMEOUT  # WebSocketImpl::timedOut: kNetworkError / kNetErrTimeout
    if isinstance(error, WebSocketProtocolError):
        return LiteCoreError("WebSocket", error.code)
    if isinstance(error, RemoteBlipError):
        return LiteCoreError("WebSocket", CLOSE_PROTOCOL_ERROR)
    if isinstance(error, RemoteDataError):
        return _REMOTE_ERROR
    if isinstance(error, TransportError | OSError):
        cause = error if isinstance(error, OSError) else error.__cause__
        from_cause = None if cause is None else _from_os_error(cause)
        if from_cause is not None:
            return from_cause
    return _REMOTE_ERROR if isinstance(error, TransportError) else LiteCoreError("LiteCore", "UnexpectedError")


def is_transient(error: BaseException) -> bool:
    """`C4Error::mayBeTransient` of what LiteCore would report for `error`."""
    return litecore_error(error).may_be_transient


def will_retry(error: BaseException, *, continuous: bool) -> bool:
    """Would Couchbase Lite go offline and retry after `error` (before counting retries)?"""
    c4 = litecore_error(error)
    return c4.may_be_transient or (continuous and c4.may_be_network_dependent)


def is_protocol_error(error: BaseException) -> bool:
    """Did the gateway break the protocol (WebSocket framing, BLIP framing, message content)?"""
    return isinstance(error, WebSocketProtocolError | RemoteBlipError | RemoteDataError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    continuous: bool = False
    max_retries: int | None = None
    """None: Couchbase Lite's default (9 for one-shot, unbounded for continuous)."""
    max_delay_s: float = MAX_DELAY_S

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        return min(float(2 ** min(retry, 30)), self.max_delay_s)

    def next_delay(self, retries_so_far: int, error: BaseException) -> float | None:
        """How long to wait before trying again after `error`, or None to give up.

        `retries_so_far` counts retries since the last successful connect (see `Backoff`).
        """
        if not will_retry(error, continuous=self.continuous):
            return None
        limit = self.max_retries
        if limit is None:
            limit = None if self.continuous else ONE_SHOT_MAX_RETRIES
        if limit is not None and retries_so_far >= limit:
            return None
        return self.delay(retries_so_far + 1)


@dataclass(slots=True)
class Backoff:
    """One replicator's retry count: up on each retry, back to 0 on each successful connect."""

    policy: RetryPolicy
    retries: int = 0
    """Retries since the last successful connect (LiteCore's `_retryCount`)."""

    def connected(self) -> None:
        self.retries = 0

    def failed(self, error: BaseException) -> float | None:
        """Seconds to wait before the next attempt, or None: the replicator stops."""
        delay = self.policy.next_delay(self.retries, error)
        if delay is not None:
            self.retries += 1
        return delay
