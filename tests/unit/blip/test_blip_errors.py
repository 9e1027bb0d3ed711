"""Bad input from the peer (RemoteBlipError) and bad local use (LocalBlipError)."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig._errors import BlipProtocolError, LocalBlipError, RemoteBlipError
from rig.blip import BlipConnection, Request, Response

FRAME_A = bytes.fromhex(
    "01 00 24 50 72 6f 66 69 6c 65 00 67 65 74 43 68 65 63 6b 70 6f 69 6e 74 00"
    "63 6c 69 65 6e 74 00 63 70 2d 61 62 63 00 55 75 19 7f"
)


def valid_stream() -> list[bytes]:
    """A few frames of every kind a peer sends: plain, compressed, fragmented, replies, ACKs."""
    a, b = BlipConnection(max_frame_payload=200), BlipConnection()
    a.send_request({"Profile": "getCheckpoint", "client": "x"})
    a.send_request({"Profile": "rev", "id": "doc"}, b'{"a":1}' * 60, compress=True)
    a.send_request({"Profile": "norev"}, b"x" * 300, no_reply=True, urgent=True)
    b.send_request({"Profile": "changes"})
    for frame in b.data_to_send():
        a.receive_frame(frame)
    a.send_response(1, {"k": "v"}, b"[]" * 200, compress=True)
    return a.data_to_send()


def prepared_receiver() -> BlipConnection:
    conn = BlipConnection()
    conn.send_request({"Profile": "changes"})
    conn.data_to_send()
    return conn


# ------------------------------------------------------------------ corruption


@pytest.mark.parametrize("index", [-1, -2, -3, -4])
def test_flipped_crc_byte_raises(index: int) -> None:
    frame = bytearray(FRAME_A)
    frame[index] ^= 0x01
    with pytest.raises(RemoteBlipError, match="CRC"):
        BlipConnection().receive_frame(bytes(frame))


def test_flipped_payload_byte_raises() -> None:
    frame = bytearray(FRAME_A)
    frame[10] ^= 0x20
    with pytest.raises(RemoteBlipError, match="CRC"):
        BlipConnection().receive_frame(bytes(frame))


def test_crc_runs_across_frames() -> None:
    conn = BlipConnection()
    conn.receive_frame(FRAME_A)
    with pytest.raises(RemoteBlipError, match="CRC"):
        conn.receive_frame(b"\x02\x00\x00" + FRAME_A[-4:])  # a CRC computed from 0, not from A


@pytest.mark.parametrize("frame", ["", "01", "01 00", "01 00 00", "01 00 00 d2 02 ef", "81", "01 80"])
def test_truncated_frame_raises(frame: str) -> None:
    with pytest.raises(RemoteBlipError):
        BlipConnection().receive_frame(bytes.fromhex(frame))


@pytest.mark.parametrize("frame", ["01 34", "01 35 80"])
def test_truncated_ack_raises(frame: str) -> None:
    with pytest.raises(RemoteBlipError):
        BlipConnection().receive_frame(bytes.fromhex(frame))


@pytest.mark.parametrize("flags", [0x03, 0x06, 0x07, 0x80])
def test_unknown_frame_type_raises(flags: int, raw) -> None:
    with pytest.raises(RemoteBlipError, match="unknown"):
        BlipConnection().receive_frame(raw.frame(1, flags, b"\x00"))


def test_bad_deflate_data_raises(raw) -> None:
    with pytest.raises(RemoteBlipError, match="deflate"):
        BlipConnection().receive_frame(raw.frame(1, 0x08, b"\x00", deflated=b"\xff\xff\xff"))


def test_final_deflate_block_raises(raw) -> None:
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = raw.message({"Profile": "x"})
    with pytest.raises(RemoteBlipError, match="ended"):
        BlipConnection().receive_frame(raw.frame(1, 0x08, body, deflated=z.compress(body) + z.flush()))


def test_connection_stays_failed_after_an_error() -> None:
    conn = BlipConnection()
    with pytest.raises(RemoteBlipError):
        conn.receive_frame(b"\x01\x00\x00\x00\x00\x00\x00")
    with pytest.raises(RemoteBlipError, match="already failed"):
        conn.receive_frame(FRAME_A)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=60), min_size=1, max_size=5))
def test_random_bytes_raise_only_protocol_errors(frames: list[bytes]) -> None:
    conn = prepared_receiver()
    for frame in frames:
        try:
            conn.receive_frame(frame)
        except BlipProtocolError:
            return


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_valid_frames_raise_only_protocol_errors(data: st.DataObject) -> None:
    frames = valid_stream()
    victim = data.draw(st.integers(0, len(frames) - 1))
    frame = bytearray(frames[victim])
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, len(frame)))
        if action == "flip" and pos < len(frame):
            frame[pos] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del frame[pos:]
        else:
            frame[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    frames[victim] = bytes(frame)
    conn = prepared_receiver()
    try:
        for f in frames:
            conn.receive_frame(f)
    except BlipProtocolError:
        pass


def test_valid_stream_is_accepted() -> None:
    # The mutation test above is only meaningful if the unmutated stream decodes cleanly.
    conn = prepared_receiver()
    events = [e for f in valid_stream() for e in conn.receive_frame(f)]
    assert [type(e) for e in events] == [Request, Request, Request, Response]


# ------------------------------------------------------------------ numbering


def test_first_request_must_be_number_1(raw) -> None:
    with pytest.raises(RemoteBlipError, match="request number"):
        BlipConnection().receive_frame(raw.frame(2, 0x00, raw.message({"Profile": "x"})))


def test_out_of_order_request_number_raises(raw) -> None:
    conn = BlipConnection()
    conn.receive_frame(raw.frame(1, 0x00, raw.message({})))
    with pytest.raises(RemoteBlipError, match="request number 3"):
        conn.receive_frame(raw.frame(3, 0x00, raw.message({})))


def test_repeated_request_number_raises(raw) -> None:
    conn = BlipConnection()
    conn.receive_frame(raw.frame(1, 0x00, raw.message({})))
    with pytest.raises(RemoteBlipError, match="request number 1"):
        conn.receive_frame(raw.frame(1, 0x00, raw.message({})))


def test_request_continues_while_the_next_one_starts(raw) -> None:
    conn = BlipConnection()
    message = raw.message({"Profile": "a"}, b"xyz")
    assert conn.receive_frame(raw.frame(1, 0x40, message[:4])) == []
    assert conn.receive_frame(raw.frame(2, 0x00, raw.message({}))) == [Request(2, {})]
    assert conn.receive_frame(raw.frame(1, 0x40, b"")) == []  # empty frames are fine
    assert conn.receive_frame(raw.frame(1, 0x00, message[4:])) == [Request(1, {"Profile": "a"}, b"xyz")]


def test_reply_to_a_number_never_sent_raises(raw) -> None:
    conn = prepared_receiver()
    with pytest.raises(RemoteBlipError, match="never sent"):
        conn.receive_frame(raw.frame(2, 0x01, b"\x00"))


def test_late_duplicate_and_noreply_replies_are_ignored(raw) -> None:
    conn = BlipConnection()
    conn.send_request({"Profile": "a"})
    conn.send_request({"Profile": "b"}, no_reply=True)
    conn.data_to_send()
    assert conn.receive_frame(raw.frame(1, 0x01, b"\x00")) == [Response(1)]
    assert conn.receive_frame(raw.frame(1, 0x01, b"\x00")) == []
    assert conn.receive_frame(raw.frame(2, 0x02, b"\x00")) == []
    assert conn.receive_frame(raw.frame(0, 0x01, b"\x00")) == []


# ------------------------------------------------------------------ properties


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (b"\x08a\x00b\x00a\x00c\x00", "duplicate"),
        (b"\x04a\x00bc", "NUL-terminated"),
        (b"\x06a\x00b\x00c\x00", "odd"),
        (b"\x01\x00", "odd"),
        (b"\x09a\x00b\x00", "runs past"),
        (b"\x04\xff\xfe\x00\x00", "UTF-8"),
        (b"", "empty"),
        (b"\x80", "truncated"),
    ],
)
def test_bad_properties_raise(raw, message: bytes, match: str) -> None:
    with pytest.raises(RemoteBlipError, match=match):
        BlipConnection().receive_frame(raw.frame(1, 0x00, message))


def test_bad_properties_in_a_reply_raise(raw) -> None:
    conn = prepared_receiver()
    with pytest.raises(RemoteBlipError, match="duplicate"):
        conn.receive_frame(raw.frame(1, 0x01, b"\x08x\x00y\x00x\x00z\x00"))


def test_error_reply_fields(raw) -> None:
    conn = prepared_receiver()
    body = raw.message({"Error-Domain": "HTTP", "Error-Code": "409"}, b"Document revision conflict")
    (event,) = conn.receive_frame(raw.frame(1, 0x02, body))
    assert (event.number, event.domain, event.code, event.message) == (
        1,
        "HTTP",
        409,
        "Document revision conflict",
    )


def test_error_reply_without_domain_or_code(raw) -> None:
    conn = prepared_receiver()
    (event,) = conn.receive_frame(raw.frame(1, 0x02, raw.message({"Error-Code": "x"})))
    assert (event.domain, event.code, event.properties) == ("BLIP", 0, {"Error-Code": "x"})


# ------------------------------------------------------------------ local misuse


def test_reply_to_unknown_request_raises() -> None:
    conn = BlipConnection()
    with pytest.raises(LocalBlipError):
        conn.send_response(1)
    with pytest.raises(LocalBlipError):
        conn.send_error(1, code=500)


def test_reply_twice_raises() -> None:
    conn = BlipConnection()
    conn.receive_frame(FRAME_A)
    conn.send_response(1)
    with pytest.raises(LocalBlipError):
        conn.send_response(1)
    with pytest.raises(LocalBlipError):
        conn.send_error(1, code=500)


def test_reply_to_noreply_raises(raw) -> None:
    conn = BlipConnection()
    conn.receive_frame(raw.frame(1, 0x20, raw.message({"Profile": "norev"})))
    with pytest.raises(LocalBlipError):
        conn.send_response(1)


def test_reply_to_incomplete_request_raises(raw) -> None:
    conn = BlipConnection()
    conn.receive_frame(raw.frame(1, 0x40, b"\x00"))
    with pytest.raises(LocalBlipError):
        conn.send_response(1)


@pytest.mark.parametrize("props", [{"a\x00": "b"}, {"a": "b\x00c"}, {"a": 1}, {"a": "\ud800"}])
def test_unencodable_properties_raise(props: dict[str, str]) -> None:
    with pytest.raises(LocalBlipError):
        BlipConnection().send_request(props)


@pytest.mark.parametrize(
    "kwargs", [{"compression_level": -1}, {"compression_level": 10}, {"max_frame_payload": 10}]
)
def test_bad_settings_raise(kwargs: dict[str, int]) -> None:
    with pytest.raises(LocalBlipError):
        BlipConnection(**kwargs)
