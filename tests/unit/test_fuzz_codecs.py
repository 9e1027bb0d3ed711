"""Fuzzing the codecs a hostile or broken gateway path reaches: bytes in, only the codec's own errors out.

- BLIP (`rig.blip`): frames with a *correct* running CRC around arbitrary numbers, flags,
  properties and bodies, compressed or not, so the fuzz gets past the checksum into the
  message logic; raw mutations are covered by tests/unit/blip/test_blip_errors.py.
- WebSocket data phase (`rig.transport._frames`): arbitrary and half-valid frame streams,
  split anywhere; close payloads.
- WebSocket opening handshake (`rig.transport._handshake`): arbitrary answers to the upgrade.

Allowed errors: RemoteBlipError (BLIP), FrameError (frames), TransportError and its
subclasses (handshake). Anything else is a bug. Examples are bounded for CI (250 per
test); ``RIG_FUZZ_EXAMPLES=50000`` runs a deeper search locally.
"""

from __future__ import annotations

import os
import struct
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig._errors import RemoteBlipError, TransportError
from rig.blip import BlipConnection, ErrorResponse, Request, Response
from rig.blip._varint import encode_uvarint
from rig.transport._frames import FrameDecoder, FrameError, parse_close
from rig.transport._handshake import ClientHandshake, accept_token

FUZZ = settings(max_examples=int(os.environ.get("RIG_FUZZ_EXAMPLES", "250")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


class CrcWriter:
    """Frames as a peer writes them, with the running CRC right, whatever their content."""

    def __init__(self) -> None:
        self.crc = 0
        self.z = zlib.compressobj(6, zlib.DEFLATED, -15)

    def frame(self, number: int, flags: int, payload: bytes, *, deflate: bool, garbage: bytes | None) -> bytes:
        self.crc = zlib.crc32(payload, self.crc)
        wire = payload
        if deflate:
            flags |= 0x08
            wire = garbage if garbage is not None else \
                (self.z.compress(payload) + self.z.flush(zlib.Z_SYNC_FLUSH))[:-4]
        return encode_uvarint(number) + encode_uvarint(flags) + wire + self.crc.to_bytes(4, "big")


def _properties(pairs: list[tuple[str, str]]) -> bytes:
    block = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in pairs)
    return encode_uvarint(len(block)) + block


text = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=12)
message_payload = st.one_of(
    st.binary(max_size=80),
    st.builds(lambda p, b: _properties(p) + b, st.lists(st.tuples(text, text), max_size=4), st.binary(max_size=40)),
    st.builds(lambda n, b: encode_uvarint(n) + b, st.integers(0, 2**64 - 1), st.binary(max_size=20)),
)
frame_spec = st.tuples(
    st.one_of(st.integers(0, 6), st.integers(0, 2**64 - 1)),  # message number
    st.integers(0, 0x7F) | st.sampled_from([0x80, 0xFF, 0x1_0000]),  # flags
    message_payload,
    st.booleans(),  # deflate
    st.none() | st.binary(max_size=30),  # garbage instead of a real deflate stream
)


def _receiver() -> BlipConnection:
    """A codec that sent requests 1..3 (so replies to them are legal) and one NoReply."""
    conn = BlipConnection()
    for _ in range(3):
        conn.send_request({"Profile": "changes"}, b"[]")
    conn.send_request({"Profile": "note"}, no_reply=True)
    conn.data_to_send()
    return conn


@FUZZ
@given(st.lists(frame_spec, min_size=1, max_size=8))
def test_blip_frames_with_valid_crc_raise_only_remote_blip_errors(specs: list[tuple[int, int, bytes, bool,
                                                                                     bytes | None]]) -> None:
    conn = _receiver()
    writer = CrcWriter()
    for number, flags, payload, deflate, garbage in specs:
        frame = writer.frame(number, flags, payload, deflate=deflate and flags & 0x07 < 4, garbage=garbage)
        try:
            events = conn.receive_frame(frame)
        except RemoteBlipError:
            return
        for event in events:
            assert isinstance(event, Request | Response | ErrorResponse)
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in event.properties.items())
            if isinstance(event, Request) and not event.no_reply:
                conn.send_response(event.number, {"ok": "1"})  # a reply we owe must be sendable
        conn.data_to_send()


@FUZZ
@given(st.lists(st.tuples(st.sampled_from([4, 5]), st.integers(0, 8), st.binary(max_size=12)), max_size=10))
def test_blip_acks_of_anything_are_harmless(acks: list[tuple[int, int, bytes]]) -> None:
    conn = BlipConnection(max_frame_payload=64)
    conn.send_request({"Profile": "rev"}, b"x" * 200_000)
    conn.data_to_send()
    for kind, number, count in acks:
        try:
            conn.receive_frame(encode_uvarint(number) + bytes([kind]) + count)
        except RemoteBlipError:
            return
        conn.data_to_send()


# WebSocket frames -----------------------------------------------------------------------------

def _header(fin: bool, rsv: int, opcode: int, masked: bool, length: int, length_form: int) -> bytes:
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if masked else 0
    if length_form == 0:
        return bytes((b0, mask_bit | min(length, 125)))
    if length_form == 1:
        return struct.pack("!BBH", b0, mask_bit | 126, length & 0xFFFF)
    return struct.pack("!BBQ", b0, mask_bit | 127, length & (2**64 - 1))


ws_frame = st.builds(
    lambda h, payload: h + payload,
    st.builds(_header, st.booleans(), st.integers(0, 7) | st.just(0), st.integers(0, 15) | st.sampled_from([1, 2]),
              st.booleans() | st.just(False), st.integers(0, 300) | st.integers(0, 2**64 - 1), st.integers(0, 2)),
    st.binary(max_size=200),
)


@FUZZ
@given(st.lists(ws_frame | st.binary(max_size=40), max_size=8), st.lists(st.integers(0, 2000), max_size=6),
       st.sampled_from([125, 1000, 64 * 1024 * 1024]))
def test_websocket_decoder_raises_only_frame_errors(pieces: list[bytes], cuts: list[int], limit: int) -> None:
    stream = b"".join(pieces)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    decoder = FrameDecoder(max_message_size=limit)
    last = 0
    code = None
    try:
        for point in [*points, len(stream)]:
            for opcode, payload in decoder.feed(stream[last:point]):
                assert 0 <= opcode <= 0xA and isinstance(payload, bytes)
                if opcode == 0x8:
                    parse_close(payload)
            last = point
    except FrameError as exc:
        code = exc.code
    assert code in (None, 1002, 1007, 1009)
    assert decoder.buffered <= len(stream)


@FUZZ
@given(st.binary(max_size=130))
def test_close_payloads_parse_or_raise_frame_errors(payload: bytes) -> None:
    try:
        code, reason = parse_close(payload)
    except FrameError:
        return
    assert code is None or 1000 <= code <= 4999
    assert isinstance(reason, str)


# WebSocket handshake --------------------------------------------------------------------------

def _answer(status: bytes, headers: list[tuple[bytes, bytes]], tail: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n" + tail


header_name = st.sampled_from([b"Upgrade", b"Connection", b"Sec-WebSocket-Accept", b"Sec-WebSocket-Protocol",
                               b"Sec-WebSocket-Extensions", b"Content-Length", b"Transfer-Encoding", b"X-Any"])
header_value = st.sampled_from([b"websocket", b"Upgrade", b"BLIP_3+CBMobile_3", b"chunked", b"5", b"-1", b""]) | \
    st.binary(max_size=20)


@FUZZ
@given(st.sampled_from([b"101 Switching Protocols", b"100 Continue", b"200 OK", b"401 Unauthorized", b"500 x",
                        b"999 ?", b"abc"]),
       st.lists(st.tuples(header_name, header_value), max_size=6), st.binary(max_size=60),
       st.lists(st.integers(0, 400), max_size=4), st.booleans(), st.booleans())
def test_handshake_answers_raise_only_transport_errors(status: bytes, headers: list[tuple[bytes, bytes]],
                                                       tail: bytes, cuts: list[int], right_accept: bool,
                                                       eof: bool) -> None:
    handshake = ClientHandshake("gw", "/db/_blipsync", ["BLIP_3+CBMobile_3"])
    handshake.request()
    if right_accept:
        headers = [(b"Sec-WebSocket-Accept", accept_token(handshake.key)), *headers]
    data = _answer(status, headers, tail)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)] + ([b""] if eof else [])
    try:
        for chunk in chunks:
            if handshake.receive(chunk) is not None:
                return
    except TransportError:
        return


@FUZZ
@given(st.binary(max_size=200), st.booleans())
def test_handshake_garbage_raises_only_transport_errors(data: bytes, eof: bool) -> None:
    handshake = ClientHandshake("gw", "/db/_blipsync", ["BLIP_3+CBMobile_3"])
    handshake.request()
    try:
        handshake.receive(data)
        if eof:
            handshake.receive(b"")
            handshake.receive(b"")  # a second EOF, as a read loop may deliver
    except TransportError:
        pass
