"""When a failed replication is tried again, as Couchbase Lite does it (pure: no clock, no sleep).

LiteCore's C4RemoteReplicator: a one-shot replicator gives up after 9 retries (10
attempts), a continuous one never does; the wait doubles on each retry (2 s, 4 s,
8 s, ...) and pins at 5 minutes. Only errors that may be transient are retried:
the network (refused, reset, closed, timed out) and the HTTP statuses a restarting
or overloaded server answers. Refused credentials, a refused subprotocol or a
protocol violation end the replication at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from rig._errors import (
    AuthenticationRejected,
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    ReadTimeout,
    RemoteBlipError,
    RemoteDataError,
    SubprotocolRejected,
    WebSocketProtocolError,
)

ONE_SHOT_MAX_RETRIES = 9
MAX_DELAY_S = 300.0
_TRANSIENT_HTTP = frozenset({408, 429, 500, 502, 503, 504})
# WebSocket close codes a server going away or a broken link produce; 1008 (policy) and
# 1003 (unacceptable data) mean the peer will answer the same way next time.
_PERMANENT_CLOSE = frozenset({1002, 1003, 1007, 1008, 1009, 1010})


def is_transient(error: BaseException) -> bool:
    """Would Couchbase Lite retry after this error?"""
    if isinstance(error, AuthenticationRejected | SubprotocolRejected):
        return False
    if isinstance(error, HandshakeRejected):
        return error.status in _TRANSIENT_HTTP
    if isinstance(error, ConnectionClosed):
        return error.code not in _PERMANENT_CLOSE
    return isinstance(error, ConnectError | ReadTimeout | ConnectionResetError | BrokenPipeError | TimeoutError)


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
        """How long to wait before trying again after `error`, or None to give up."""
        if not is_transient(error):
            return None
        limit = self.max_retries
        if limit is None:
            limit = None if self.continuous else ONE_SHOT_MAX_RETRIES
        if limit is not None and retries_so_far >= limit:
            return None
        return self.delay(retries_so_far + 1)
