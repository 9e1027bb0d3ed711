"""WebSocketTransport's reactions to frames the real gateway cannot be made to send on demand.

The far end is a bare socket of a socketpair (after the handshake; no HTTP, no BLIP): it
writes raw server frames and parses what we send back with wsproto. Everything the
gateway does produce is tested against the gateway itself in test_websocket_gateway.py.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Pong

from rig._errors import ConnectionClosed, ReadTimeout, TransportError
from rig.transport import WebSocketTransport, websocket


def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = False) -> bytes:
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    head = bytes((b0, n | (0x80 if masked else 0))) if n < 126 else struct.pack("!BBH", b0, 126, n)
    return head + (b"\0\0\0\0" if masked else b"") + payload


class Peer:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ws = Connection(ConnectionType.SERVER)

    def events(self, timeout: float = 2.0) -> list[Event]:
        """What the transport sent, up to EOF or `timeout`."""
        self.sock.settimeout(timeout)
        out: list[Event] = []
        try:
            while True:
                data = self.sock.recv(65536)
                self.ws.receive_data(data or None)
                out.extend(self.ws.events())
                if not data or any(isinstance(e, CloseConnection) for e in out):
                    return out
        except TimeoutError:
            return out


@pytest.fixture
def pair() -> Iterator[tuple[WebSocketTransport, Peer]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    transport = WebSocketTransport(ours, subprotocol="BLIP_3+CBMobile_3", correlation_id=None, io_timeout=5,
                                   max_message_size=100_000, url="ws://pair")
    yield transport, Peer(theirs)
    theirs.close()
    transport.close()


class CountingSocket(socket.socket):
    writes: list[int]

    # The transport's socket is non-blocking: it writes with send() (and waits only when the
    # kernel's buffer is full), so each send() is one write system call.
    def send(self, data: object, flags: int = 0) -> int:
        self.writes.append(len(data))  # type: ignore[arg-type]
        return super().send(data, flags)  # type: ignore[arg-type]

    def sendall(self, data: object, flags: int = 0) -> None:
        raise AssertionError("the transport writes with send() on a non-blocking socket")


def test_a_batch_is_one_write_and_arrives_as_separate_binary_messages() -> None:
    raw, theirs = socket.socketpair()
    ours = CountingSocket(fileno=raw.detach())
    ours.writes = []
    ours.settimeout(5)
    peer = Peer(theirs)
    transport = WebSocketTransport(ours, subprotocol="x", correlation_id=None, io_timeout=5)
    messages = [bytes([i]) * (i * 40) for i in range(1, 40)]  # < the socket buffer: nobody reads yet
    transport.send(messages)
    assert len(ours.writes) == 1
    peer.sock.settimeout(2)
    got: list[bytes] = []
    while len(got) < len(messages):
        peer.ws.receive_data(peer.sock.recv(65536))
        got.extend(bytes(e.data) for e in peer.ws.events() if isinstance(e, BytesMessage))
    assert got == messages
    theirs.close()
    transport.close()


def test_pings_are_answered_and_fragments_joined(pair: tuple[WebSocketTransport, Peer]) -> None:
    transport, peer = pair
    peer.sock.sendall(frame(0x2, b"ab", fin=False) + frame(0x9, b"are you there") + frame(0x0, b"cd"))
    assert transport.recv(timeout=2) == b"abcd"
    pongs = [e for e in peer.events(timeout=0.5) if isinstance(e, Pong)]
    assert [p.payload for p in pongs] == [b"are you there"]


def test_messages_before_the_peers_close_are_delivered_then_none(pair: tuple[WebSocketTransport, Peer]) -> None:
    transport, peer = pair
    peer.sock.sendall(frame(0x2, b"one") + frame(0x2, b"two") + frame(0x8, struct.pack("!H", 1001) + b"bye"))
    assert transport.recv(timeout=2) == b"one"
    assert transport.recv(timeout=2) == b"two"
    assert transport.recv(timeout=2) is None
    assert (transport.close_code, transport.close_reason) == (1001, "bye")
    assert transport.closed
    echoed = [e for e in peer.events() if isinstance(e, CloseConnection)]
    assert [(e.code, e.reason) for e in echoed] == [(1001, "")]
    with pytest.raises(ConnectionClosed) as info:
        transport.send([b"late"])
    assert info.value.code == 1001


def test_eof_mid_frame_is_a_close_without_code(pair: tuple[WebSocketTransport, Peer]) -> None:
    transport, peer = pair
    peer.sock.sendall(frame(0x2, b"whole") + frame(0x2, b"partial")[:4])
    peer.sock.shutdown(socket.SHUT_WR)
    assert transport.recv(timeout=2) == b"whole"
    assert transport.recv(timeout=2) is None
    assert transport.close_code is None
    assert transport.recv() is None


@pytest.mark.parametrize(("data", "code"), [
    (frame(0x1, b"text"), 1003),                     # BLIP is binary only
    (frame(0x2, b"masked", masked=True), 1002),      # servers never mask
    (struct.pack("!BBQ", 0x82, 127, 100_001), 1009),  # over max_message_size: refused from the header
])
def test_protocol_violations_raise_and_close_with_the_right_code(
        pair: tuple[WebSocketTransport, Peer], data: bytes, code: int) -> None:
    transport, peer = pair
    peer.sock.sendall(data)
    with pytest.raises(TransportError):
        transport.recv(timeout=2)
    assert transport.closed
    closes = [e for e in peer.events() if isinstance(e, CloseConnection)]
    assert [e.code for e in closes] == [code]
    assert transport.recv(timeout=1) is None


def test_recv_timeout_zero_polls_once(pair: tuple[WebSocketTransport, Peer]) -> None:
    transport, peer = pair
    with pytest.raises(ReadTimeout):
        transport.recv(timeout=0)
    peer.sock.sendall(frame(0x2, b"now"))
    assert transport.recv(timeout=2) == b"now"


def test_close_without_an_answer_gives_up_after_the_grace_period(
        pair: tuple[WebSocketTransport, Peer], monkeypatch: pytest.MonkeyPatch) -> None:
    transport, peer = pair
    monkeypatch.setattr(websocket, "CLOSE_GRACE_S", 0.3)
    started = time.monotonic()
    transport.close(4000, "x" * 200)  # an over-long reason is cut to fit the frame
    assert 0.25 < time.monotonic() - started < 1.5
    assert transport.closed
    assert transport.close_code is None
    closes = [e for e in peer.events() if isinstance(e, CloseConnection)]
    assert [e.code for e in closes] == [4000]
    assert len(closes[0].reason or "") == 123


def test_a_write_the_peer_never_reads_times_out_after_the_connect_timeout() -> None:
    # The socket is non-blocking after the handshake: a full send buffer is waited out with poll,
    # bounded by the connect timeout, and then the connection is unusable (part of a frame may be out).
    ours, theirs = socket.socketpair()
    transport = WebSocketTransport(ours, subprotocol="x", correlation_id=None, io_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"timed out after 0\.3s"):
        transport.send([b"x" * 8_000_000])  # far more than a socketpair buffers
    assert 0.25 <= time.monotonic() - started < 3
    assert transport.closed
    with pytest.raises(ConnectionClosed):
        transport.send([b"more"])
    theirs.close()
