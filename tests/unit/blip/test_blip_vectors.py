"""The worked byte examples of the spec (§2.4 A-D), as exact bytes."""

from __future__ import annotations

import zlib

import pytest

from rig.blip import BlipConnection, Request, Response

FRAME_A = bytes.fromhex(
    "01 00 24"
    "50 72 6f 66 69 6c 65 00"
    "67 65 74 43 68 65 63 6b 70 6f 69 6e 74 00"
    "63 6c 69 65 6e 74 00"
    "63 70 2d 61 62 63 00"
    "55 75 19 7f"
)
PROPS_A = {"Profile": "getCheckpoint", "client": "cp-abc"}

PROPS_B = {"Profile": "setCheckpoint", "client": "cp-abc", "rev": "0-5"}
BODY_B = b'{"remote":1250}'
FRAME_B_PLAIN = (
    b"\x02\x00\x2c"
    + b"Profile\0setCheckpoint\0client\0cp-abc\0rev\0"
    + b"0-5\0"
    + BODY_B
    + bytes.fromhex("3a 7d e0 07")
)
FRAME_B_COMPRESSED = bytes.fromhex(
    "02 08 d2 09 28 ca 4f cb cc 49 65 28 4e 2d 71 ce 48 4d ce 2e c8 cf cc 2b 61 48 ce c9"
    "4c 05 51 05 ba 89 49 c9 0c 45 a9 65 0c 06 ba a6 0c d5 4a 45 a9 b9 f9 25 a9 4a 56 86"
    "46 a6 06 b5 00 00 3a 7d e0 07"
)
FRAME_C = bytes.fromhex("01 01 00 d2 02 ef 8d")
FRAME_D = bytes.fromhex("03 34 cb 87 03")


def test_example_a_encodes_exactly() -> None:
    conn = BlipConnection()
    assert conn.send_request(PROPS_A) == 1
    assert conn.data_to_send() == [FRAME_A]
    assert len(FRAME_A) == 43


def test_example_a_decodes() -> None:
    assert BlipConnection().receive_frame(FRAME_A) == [Request(1, PROPS_A)]


def test_example_b_uncompressed_encodes_exactly() -> None:
    conn = BlipConnection()
    conn.send_request(PROPS_A)
    assert conn.send_request(PROPS_B, BODY_B) == 2
    assert conn.data_to_send() == [FRAME_A, FRAME_B_PLAIN]


@pytest.mark.parametrize("frame_b", [FRAME_B_PLAIN, FRAME_B_COMPRESSED], ids=["plain", "compressed"])
def test_example_b_decodes_after_a(frame_b: bytes) -> None:
    conn = BlipConnection()
    assert conn.receive_frame(FRAME_A) == [Request(1, PROPS_A)]
    assert conn.receive_frame(frame_b) == [Request(2, PROPS_B, BODY_B)]


def test_example_b_compressed_round_trips_through_our_encoder() -> None:
    sender, receiver = BlipConnection(), BlipConnection()
    sender.send_request(PROPS_A)
    sender.send_request(PROPS_B, BODY_B, compress=True)
    frame_a, frame_b = sender.data_to_send()
    assert frame_b[1] == 0x08
    assert frame_b[-4:] == FRAME_B_COMPRESSED[-4:]  # CRC covers the uncompressed bytes
    assert receiver.receive_frame(frame_a) + receiver.receive_frame(frame_b) == [
        Request(1, PROPS_A),
        Request(2, PROPS_B, BODY_B),
    ]


@pytest.mark.skipif(zlib.ZLIB_RUNTIME_VERSION != "1.2.13", reason="the vector was made with zlib 1.2.13")
def test_example_b_compressed_encodes_exactly_with_zlib_1_2_13() -> None:
    conn = BlipConnection()
    conn.send_request(PROPS_A)
    conn.send_request(PROPS_B, BODY_B, compress=True)
    assert conn.data_to_send()[1] == FRAME_B_COMPRESSED


def test_example_c_empty_reply_encodes_exactly() -> None:
    conn = BlipConnection()
    conn.receive_frame(FRAME_A)
    conn.send_response(1)
    assert conn.data_to_send() == [FRAME_C]


def test_example_c_decodes() -> None:
    conn = BlipConnection()
    conn.send_request(PROPS_A)
    conn.data_to_send()
    assert conn.receive_frame(FRAME_C) == [Response(1, {}, b"")]


def test_example_d_ack_after_50123_bytes(raw) -> None:
    conn = BlipConnection()
    for number in (1, 2):
        conn.receive_frame(raw.frame(number, 0x00, raw.message({"Profile": "x"})))
    # Request #3 in four frames whose sizes after the header (payload + CRC) add up to 50,123.
    payload = raw.message({"Profile": "big"}) + bytes(60_000)
    sizes = [16_000, 16_000, 16_000, 50_123 - 3 * 16_004 - 4]
    offset = 0
    for size in sizes:
        assert conn.receive_frame(raw.frame(3, 0x40, payload[offset : offset + size])) == []
        offset += size
    assert conn.data_to_send() == [FRAME_D]
    assert conn.data_to_send() == []
