"""The sans-I/O opening handshake: what we send, and answers the real gateway never gives.

Everything Sync Gateway does answer (101, 401, 500, 403, ...) is tested against the real
gateway in test_websocket_gateway.py; here only the request bytes and malformed 101s.
"""

from __future__ import annotations

import pytest

from rig._errors import SubprotocolRejected, TransportError
from rig.transport import BasicAuth, SessionAuth
from rig.transport._handshake import Accepted, ClientHandshake, Rejected, accept_token


def make(subprotocols: tuple[str, ...] = ("BLIP_3+CBMobile_4", "BLIP_3+CBMobile_3"),
         headers: tuple[tuple[str, str], ...] = ()) -> ClientHandshake:
    return ClientHandshake("127.0.0.1:4984", "/db/_blipsync?x=1", subprotocols, headers)


def header_lines(request: bytes) -> list[bytes]:
    return request.split(b"\r\n\r\n")[0].split(b"\r\n")


def answer_101(hs: ClientHandshake, *extra: bytes, protocol: bytes | None = b"BLIP_3+CBMobile_3",
               accept: bytes | None = None) -> bytes:
    lines = [b"HTTP/1.1 101 Switching Protocols", b"Upgrade: websocket", b"Connection: Upgrade",
             b"Sec-WebSocket-Accept: " + (accept or accept_token(hs.key)), *extra]
    if protocol is not None:
        lines.append(b"Sec-WebSocket-Protocol: " + protocol)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_request_has_one_protocol_line_in_order_and_no_origin_or_extensions() -> None:
    hs = make(headers=(BasicAuth("alice", "secret").header(),))
    lines = header_lines(hs.request())
    assert lines[0] == b"GET /db/_blipsync?x=1 HTTP/1.1"
    protocol_lines = [ln for ln in lines if ln.lower().startswith(b"sec-websocket-protocol:")]
    assert protocol_lines == [b"Sec-WebSocket-Protocol: BLIP_3+CBMobile_4,BLIP_3+CBMobile_3"]
    lowered = [ln.lower() for ln in lines]
    assert not any(ln.startswith((b"origin:", b"sec-websocket-extensions:")) for ln in lowered)
    assert b"host: 127.0.0.1:4984" in lowered
    assert b"sec-websocket-version: 13" in lowered
    assert b"authorization: basic ywxpy2u6c2vjcmv0" in lowered  # base64("alice:secret")


def test_session_auth_is_a_cookie_and_credentials_stay_out_of_repr() -> None:
    assert SessionAuth("SyncGatewaySession", "abc").header() == ("Cookie", "SyncGatewaySession=abc")
    assert "secret" not in repr(BasicAuth("alice", "secret"))
    assert "abc" not in repr(SessionAuth("SyncGatewaySession", "abc"))


def test_accept_token_matches_rfc_6455_example() -> None:
    assert accept_token(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_101_split_anywhere_is_accepted_with_the_frame_bytes_after_it() -> None:
    hs = make()
    hs.request()
    data = answer_101(hs, b"X-Correlation-ID: abc123") + b"\x82\x01x"
    outcome = None
    for i in range(len(data)):
        outcome = hs.receive(data[i:i + 1])
        if outcome is not None:
            break
    assert isinstance(outcome, Accepted)
    assert outcome.subprotocol == "BLIP_3+CBMobile_3"
    assert outcome.header("x-correlation-id") == "abc123"
    # fed one byte at a time, the frame bytes arrive after the outcome; in one piece they trail it
    hs2 = make()
    hs2.request()
    whole = hs2.receive(answer_101(hs2) + b"\x82\x01x")
    assert isinstance(whole, Accepted)
    assert whole.trailing == b"\x82\x01x"


@pytest.mark.parametrize("protocol", [None, b"BLIP_3+CBMobile_2"])
def test_101_without_one_of_our_subprotocols_is_refused(protocol: bytes | None) -> None:
    hs = make()
    hs.request()
    with pytest.raises(SubprotocolRejected) as info:
        hs.receive(answer_101(hs, protocol=protocol))
    assert info.value.status == 101


@pytest.mark.parametrize(("extra", "accept", "error"), [
    ((b"Sec-WebSocket-Extensions: permessage-deflate",), None, "extension we did not offer"),
    ((), b"bm90IHRoZSByaWdodCBrZXk=", "wrong Sec-WebSocket-Accept"),
])
def test_malformed_101s_are_transport_errors(extra: tuple[bytes, ...], accept: bytes | None, error: str) -> None:
    hs = make()
    hs.request()
    with pytest.raises(TransportError, match=error):
        hs.receive(answer_101(hs, *extra, accept=accept))


def test_a_rejection_body_without_length_is_read_until_eof() -> None:
    hs = make()
    hs.request()
    assert hs.receive(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\npart one, ") is None
    assert hs.receive(b"part two") is None
    outcome = hs.receive(b"")
    assert isinstance(outcome, Rejected)
    assert (outcome.status, outcome.body) == (503, b"part one, part two")


def test_garbage_instead_of_http_is_a_transport_error() -> None:
    hs = make()
    hs.request()
    with pytest.raises(TransportError):
        hs.receive(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


def test_public_names() -> None:
    import rig.transport

    assert len(set(rig.transport.__all__)) == len(rig.transport.__all__)
    assert {"BasicAuth", "SessionAuth", "Transport", "WebSocketTransport"} <= set(rig.transport.__all__)
    for name in rig.transport.__all__:
        assert getattr(rig.transport, name) is not None
