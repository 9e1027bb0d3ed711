"""The RFC 6455 frame codec, checked against wsproto as the reference implementation."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from rig.transport._frames import (
    CLOSE_INVALID_DATA,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
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
    mask,
    parse_close,
)

SIZES = [0, 1, 60, 125, 126, 127, 1023, 1024, 1025, 16384, 65535, 65536, 70000]


def server_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, length_bytes: int = 0) -> bytes:
    """An unmasked frame as a server writes it; `length_bytes` forces a length encoding."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | rsv | opcode
    size = length_bytes or (0 if n < 126 else 2 if n < 0x10000 else 8)
    if size == 0:
        return bytes((b0, n)) + payload
    if size == 2:
        return struct.pack("!BBH", b0, 126, n) + payload
    return struct.pack("!BBQ", b0, 127, n) + payload


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in [*points, len(data)]:
        pieces.append(data[last:p])
        last = p
    return pieces


def test_client_frames_parse_in_wsproto_as_the_same_binary_messages() -> None:
    messages = [os.urandom(n) for n in SIZES]
    server = Connection(ConnectionType.SERVER)
    server.receive_data(encode_frames(messages))
    got = [e.data for e in server.events() if isinstance(e, BytesMessage)]
    assert got == messages


def test_server_frames_from_wsproto_decode_to_the_same_messages() -> None:
    messages = [os.urandom(n) for n in SIZES]
    server = Connection(ConnectionType.SERVER)
    stream = b"".join(server.send(BytesMessage(data=m)) for m in messages)
    assert FrameDecoder().feed(stream) == [(OP_BINARY, m) for m in messages]


def test_encode_frames_accepts_any_iterable_and_masks_every_frame() -> None:
    data = encode_frames(m for m in [b"a", b"bc"])
    assert data[1] & 0x80
    assert data[1] & 0x7F == 1
    assert len(data) == (2 + 4 + 1) + (2 + 4 + 2)
    assert encode_frames([]) == b""


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(st.binary(max_size=300), max_size=20), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_decoding_does_not_depend_on_how_the_stream_is_split(messages: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(server_frame(OP_BINARY, m) for m in messages)
    decoder = FrameDecoder()
    got = [ev for piece in split(stream, cuts) for ev in decoder.feed(piece)]
    assert got == [(OP_BINARY, m) for m in messages]
    assert decoder.buffered == 0


@given(key=st.binary(min_size=4, max_size=4), data=st.binary(max_size=3000))
def test_mask_is_its_own_inverse_and_matches_the_rfc(key: bytes, data: bytes) -> None:
    masked = mask(key, data)
    assert masked == bytes(b ^ key[i % 4] for i, b in enumerate(data))
    assert mask(key, masked) == data


def test_fragments_are_joined_and_control_frames_may_come_between_them() -> None:
    stream = (server_frame(OP_BINARY, b"ab", fin=False) + server_frame(OP_PING, b"p")
              + server_frame(0, b"cd", fin=False) + server_frame(0, b"ef"))
    assert FrameDecoder().feed(stream) == [(OP_PING, b"p"), (OP_BINARY, b"abcdef")]


def test_text_and_pong_frames_are_reported_for_the_transport_to_judge() -> None:
    server = Connection(ConnectionType.SERVER)
    stream = server.send(TextMessage(data="hi")) + server_frame(OP_PONG, b"x")
    assert FrameDecoder().feed(stream) == [(OP_TEXT, b"hi"), (OP_PONG, b"x")]


def test_nothing_after_a_close_frame_is_parsed() -> None:
    server = Connection(ConnectionType.SERVER)
    stream = server.send(CloseConnection(code=1000, reason="bye")) + server_frame(OP_BINARY, b"late")
    decoder = FrameDecoder()
    events = decoder.feed(stream)
    assert events == [(OP_CLOSE, close_payload(1000, "bye"))]
    assert parse_close(events[0][1]) == (1000, "bye")
    assert decoder.feed(server_frame(OP_BINARY, b"later")) == []


@pytest.mark.parametrize(("stream", "code"), [
    (bytes((0x82, 0x81)) + b"\0\0\0\0x", CLOSE_PROTOCOL_ERROR),            # masked by the server
    (server_frame(OP_BINARY, b"x", rsv=0x40), CLOSE_PROTOCOL_ERROR),        # RSV1 without deflate
    (server_frame(0x3, b"x"), CLOSE_PROTOCOL_ERROR),                         # reserved data opcode
    (server_frame(0xB, b"x"), CLOSE_PROTOCOL_ERROR),                         # reserved control opcode
    (server_frame(OP_PING, b"x", fin=False), CLOSE_PROTOCOL_ERROR),          # fragmented control
    (server_frame(OP_PING, b"x" * 126), CLOSE_PROTOCOL_ERROR),               # long control
    (server_frame(0, b"x"), CLOSE_PROTOCOL_ERROR),                           # stray continuation
    (server_frame(OP_BINARY, b"a", fin=False) + server_frame(OP_BINARY, b"b"), CLOSE_PROTOCOL_ERROR),
    (server_frame(OP_BINARY, b"x" * 10, length_bytes=2), CLOSE_PROTOCOL_ERROR),  # non-minimal length
    (server_frame(OP_BINARY, b"x" * 200, length_bytes=8), CLOSE_PROTOCOL_ERROR),
    (struct.pack("!BBQ", 0x82, 127, 1 << 63), CLOSE_PROTOCOL_ERROR),        # 64-bit length, top bit set
])
def test_protocol_violations_raise_with_the_close_code(stream: bytes, code: int) -> None:
    with pytest.raises(FrameError) as info:
        FrameDecoder().feed(stream)
    assert info.value.code == code


def test_an_oversized_message_is_refused_from_its_header_alone() -> None:
    decoder = FrameDecoder(max_message_size=1000)
    with pytest.raises(FrameError) as info:
        decoder.feed(struct.pack("!BBH", 0x82, 126, 1001))  # no payload sent yet
    assert info.value.code == CLOSE_TOO_BIG
    fragmented = FrameDecoder(max_message_size=1000)
    fragmented.feed(server_frame(OP_BINARY, b"x" * 600, fin=False))
    with pytest.raises(FrameError):
        fragmented.feed(struct.pack("!BBH", 0x00, 126, 600))


@pytest.mark.parametrize(("payload", "expected"), [
    (b"", (None, "")),
    (b"\x03\xe8", (1000, "")),
    (b"\x03\xf1too big", (1009, "too big")),
    (b"\x0f\xa0app", (4000, "app")),
])
def test_close_payloads_parse(payload: bytes, expected: tuple[int | None, str]) -> None:
    assert parse_close(payload) == expected


@pytest.mark.parametrize(("payload", "code"), [
    (b"\x03", CLOSE_PROTOCOL_ERROR),
    (b"\x03\xed", CLOSE_PROTOCOL_ERROR),       # 1005 must not be on the wire
    (b"\x00\x10", CLOSE_PROTOCOL_ERROR),
    (b"\x03\xe8\xff\xfe", CLOSE_INVALID_DATA),  # reason not UTF-8
])
def test_invalid_close_payloads_are_protocol_errors(payload: bytes, code: int) -> None:
    with pytest.raises(FrameError) as info:
        parse_close(payload)
    assert info.value.code == code


def test_control_frames_we_send_are_valid_for_wsproto() -> None:
    server = Connection(ConnectionType.SERVER)
    server.receive_data(encode_control(OP_PING, b"hi") + encode_control(OP_CLOSE, close_payload(1001, "cut")))
    events = list(server.events())
    assert isinstance(events[0], Ping)
    assert events[0].payload == b"hi"
    assert isinstance(events[1], CloseConnection)
    assert (events[1].code, events[1].reason) == (1001, "cut")
    with pytest.raises(ValueError, match="125"):
        encode_control(OP_PING, b"x" * 126)
    with pytest.raises(ValueError, match="123"):
        close_payload(1000, "x" * 124)
