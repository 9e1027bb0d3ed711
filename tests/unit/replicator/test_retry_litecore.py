"""Retry as LiteCore does it (c4RemoteReplicator.hh, C4Error::mayBeTransient) and the 503 that closes with 4001.

Pure: errors are built with the causes the transport gives them, delays are numbers.
"""

from __future__ import annotations

import errno
import socket
import ssl

import pytest

from rig._errors import (
    AuthenticationRejected,
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    HeartbeatTimeout,
    RemoteBlipError,
    RemoteDataError,
    RemoteUnavailable,
    ReplicationError,
    SubprotocolRejected,
    TransportError,
    WebSocketProtocolError,
)
from rig.blip import ErrorResponse, Response
from rig.replicator.retry import Backoff, RetryPolicy, is_transient, litecore_error, will_retry
from rig.replicator.stopping import ProfiledBlip, stopping_error


def caused(error: Exception, cause: BaseException) -> Exception:
    error.__cause__ = cause
    return error


REFUSED = caused(ConnectError("cannot connect"), ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
EOF_CLOSE = ConnectionClosed("gone", code=1006)

# The schedule -----------------------------------------------------------------------------------


def test_the_retry_count_resets_on_every_successful_connect() -> None:
    """Three outages in a row, each with a refused reconnect: the fourth drop waits 2 s again."""
    backoff = Backoff(RetryPolicy(continuous=True))
    backoff.connected()
    for _outage in range(3):
        assert backoff.failed(EOF_CLOSE) == 2.0
        assert backoff.failed(REFUSED) == 4.0  # still down
        backoff.connected()
    assert backoff.failed(EOF_CLOSE) == 2.0
    # Without the reset (the rig before issue 13) the same drop waited 2**7 s:
    assert RetryPolicy(continuous=True).next_delay(6, EOF_CLOSE) == 128.0


def test_waits_double_from_two_seconds_pin_at_300_and_one_shot_gives_up_after_nine() -> None:
    one_shot = Backoff(RetryPolicy())
    delays = [one_shot.failed(REFUSED) for _ in range(10)]
    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 300, None]
    continuous = Backoff(RetryPolicy(continuous=True))
    assert [continuous.failed(REFUSED) for _ in range(40)][-3:] == [300, 300, 300]
    assert continuous.retries == 40


def test_an_error_that_is_not_retried_does_not_count() -> None:
    backoff = Backoff(RetryPolicy(continuous=True))
    assert backoff.failed(ConnectionClosed("normal", code=1000)) is None
    assert backoff.retries == 0


# Transient or not, as C4Error::mayBeTransient ---------------------------------------------------


@pytest.mark.parametrize(("error", "litecore", "transient"), [
    (REFUSED, f"POSIX {errno.ECONNREFUSED}", True),
    (caused(ConnectError("x"), ConnectionResetError(errno.ECONNRESET, "reset")), f"POSIX {errno.ECONNRESET}", True),
    (caused(ConnectError("x"), TimeoutError("timed out")), "Network Timeout", True),
    (caused(ConnectError("x"), socket.gaierror(socket.EAI_AGAIN, "try again")), "Network DNSFailure", True),
    (caused(ConnectError("x"), socket.gaierror(socket.EAI_NONAME, "unknown")), "Network UnknownHost", False),
    (caused(ConnectError("x"), ssl.SSLError(1, "handshake")), "Network TLSHandshakeFailed", False),
    (ConnectError("no answer", timed_out=True), "Network Timeout", True),
    (ConnectError("eof during the handshake", eof=True), "WebSocket 400", False),
    (HandshakeRejected("timeout", status=408, body=""), "WebSocket 408", True),
    (HandshakeRejected("too many", status=429, body=""), "WebSocket 429", True),
    (HandshakeRejected("bad gateway", status=502, body=""), "WebSocket 502", True),
    (HandshakeRejected("db offline", status=503, body=""), "WebSocket 503", True),
    (HandshakeRejected("gateway timeout", status=504, body=""), "WebSocket 504", True),
    (HandshakeRejected("server error", status=500, body=""), "WebSocket 500", False),
    (AuthenticationRejected("bad password", status=401, body=""), "WebSocket 401", False),
    (SubprotocolRejected("I only speak", status=500, body=""), "WebSocket 500", False),
    (ConnectionClosed("normal close by the gateway", code=1000), "WebSocket 1001", False),
    (ConnectionClosed("going away", code=1001), "WebSocket 1001", False),
    (ConnectionClosed("no close frame", code=None), "WebSocket 1006", True),
    (EOF_CLOSE, "WebSocket 1006", True),
    (ConnectionClosed("app transient", code=4001), "WebSocket 4001", True),
    (ConnectionClosed("app permanent", code=4002), "WebSocket 4002", False),
    (ConnectionClosed("policy", code=1008), "WebSocket 1008", False),
    (caused(ConnectionClosed("lost while sending"), ConnectionResetError(errno.ECONNRESET, "reset")),
     f"POSIX {errno.ECONNRESET}", True),
    (RemoteUnavailable("503", profile="getCheckpoint"), "WebSocket 4001", True),
    (HeartbeatTimeout("no pong"), "Network Timeout", True),
    (caused(TransportError("send timed out"), TimeoutError("timed out")), "Network Timeout", True),
    (WebSocketProtocolError("RSV bits", code=1002), "WebSocket 1002", False),
    (RemoteBlipError("bad CRC"), "WebSocket 1002", False),
    (RemoteDataError("not JSON", profile="changes"), "LiteCore RemoteError", False),
    (ReplicationError("getCheckpoint failed: HTTP 500"), "LiteCore UnexpectedError", False),
])
def test_transient_exactly_as_c4error_may_be_transient(error: Exception, litecore: str, transient: bool) -> None:
    assert str(litecore_error(error)) == litecore
    assert is_transient(error) is transient
    assert (RetryPolicy().next_delay(0, error) is not None) is transient


def test_network_dependent_errors_are_retried_only_by_a_continuous_replicator() -> None:
    """mayBeNetworkDependent: unknown host, unreachable, broken pipe (the host counts as reachable)."""
    for error in (caused(ConnectError("x"), socket.gaierror(socket.EAI_NONAME, "unknown")),
                  caused(ConnectError("x"), OSError(errno.EHOSTUNREACH, "no route")),
                  caused(ConnectionClosed("lost while sending"), BrokenPipeError(errno.EPIPE, "pipe"))):
        assert not is_transient(error)
        assert not will_retry(error, continuous=False) and RetryPolicy().next_delay(0, error) is None
        assert will_retry(error, continuous=True) and RetryPolicy(continuous=True).next_delay(0, error) == 2.0


# A BLIP error 503 closes the connection with 4001 -----------------------------------------------


def test_profiled_blip_remembers_the_profile_of_each_request_awaiting_a_reply() -> None:
    blip = ProfiledBlip()
    asked = blip.send_request({"Profile": "getCheckpoint", "client": "cp"})
    told = blip.send_request({"Profile": "setCheckpoint"}, no_reply=True)
    assert blip.answered(Response(asked)) == "getCheckpoint"
    assert blip.answered(Response(asked)) == ""  # forgotten once answered
    assert blip.answered(Response(told)) == ""


@pytest.mark.parametrize("profile", ["getCheckpoint", "setCheckpoint", "getCollections", "subChanges",
                                     "proposeChanges", "changes"])
def test_a_503_to_a_replication_request_closes_with_4001_and_is_retried(profile: str) -> None:
    error = stopping_error(profile, ErrorResponse(7, "HTTP", 503, "User not found during reload"))
    assert isinstance(error, RemoteUnavailable)
    assert (error.code, error.status, error.profile) == (4001, 503, profile)
    assert Backoff(RetryPolicy()).failed(error) == 2.0


@pytest.mark.parametrize(("profile", "reply"), [
    ("rev", ErrorResponse(7, "HTTP", 503, "cache behind")),  # LiteCore: that document's transient error
    ("getAttachment", ErrorResponse(7, "HTTP", 503)),
    ("getCheckpoint", ErrorResponse(7, "HTTP", 500)),
    ("getCheckpoint", ErrorResponse(7, "BLIP", 503)),  # not domain HTTP: LiteCore's RemoteError
    ("subChanges", Response(7)),
])
def test_other_replies_are_left_to_the_replicator(profile: str, reply: Response | ErrorResponse) -> None:
    assert stopping_error(profile, reply) is None
