"""Flow control: ACKs we send for big incoming messages, and icing of our own big sends."""

from __future__ import annotations

import random

import pytest

from rig.blip import BlipConnection, MessageType, Request, decode_frame_header
from rig.blip._varint import decode_uvarint

BIG = random.Random(7).randbytes(300_000)  # incompressible, so byte counts are predictable


def header_len(frame: bytes) -> int:
    _, pos = decode_uvarint(frame, 0)
    return decode_uvarint(frame, pos)[1]


def ack_count(frame: bytes) -> int:
    return decode_uvarint(frame, header_len(frame))[0]


def is_ack(frame: bytes) -> bool:
    return decode_frame_header(frame)[1] & 0x07 in (MessageType.ACK_MSG, MessageType.ACK_RPY)


def test_big_message_is_iced_until_acked_then_resumes() -> None:
    sender, receiver = BlipConnection(), BlipConnection()
    sender.send_request({"Profile": "rev"}, BIG)

    first = sender.data_to_send()
    sent = sum(len(f) - header_len(f) for f in first)
    # 8 frames of 16,374 payload bytes + 4 CRC: 7 of them (114,646) are under the limit.
    assert len(first) == 8
    assert sent == 8 * 16_378
    assert sender.data_to_send() == []  # iced: nothing more until an ACK arrives
    assert sender.outgoing_backlog == 1

    for frame in first:
        assert receiver.receive_frame(frame) == []
    acks = receiver.data_to_send()
    assert [decode_frame_header(a) for a in acks] == [(1, 0x34), (1, 0x34)]
    assert [ack_count(a) for a in acks] == [4 * 16_378, 7 * 16_378]  # crossed 50,000 and 100,000
    assert receiver.data_to_send() == []

    assert sender.receive_frame(acks[0]) == []  # 131,024 - 65,512 <= 128,000: thawed
    more = sender.data_to_send()
    assert len(more) == 4  # runs until 196,536 - 65,512 > 128,000 again
    assert sender.data_to_send() == []
    assert sender.receive_frame(acks[1]) == []
    more += sender.data_to_send()

    events = []
    for frame in more:
        events += receiver.receive_frame(frame)
        for ack in receiver.data_to_send():
            assert sender.receive_frame(ack) == []
            more += sender.data_to_send()
    assert events == [Request(1, {"Profile": "rev"}, BIG)]
    assert sender.outgoing_backlog == 0
    assert not any(is_ack(f) for f in first + more)


def test_other_messages_continue_while_one_is_iced() -> None:
    sender = BlipConnection()
    sender.send_request({"Profile": "big"}, BIG)
    sender.data_to_send()  # now iced
    sender.send_request({"Profile": "small"}, b"hello")
    (frame,) = sender.data_to_send()
    assert decode_frame_header(frame) == (2, 0x00)


def test_ack_for_a_big_reply_uses_ackrpy() -> None:
    a, b = BlipConnection(), BlipConnection()
    a.send_request({"Profile": "getAttachment"})
    for frame in a.data_to_send():
        b.receive_frame(frame)
    b.send_response(1, {}, BIG, compress=False)
    for frame in b.data_to_send():
        a.receive_frame(frame)
    acks = a.data_to_send()
    assert [decode_frame_header(x) for x in acks] == [(1, 0x35), (1, 0x35)]
    assert b.receive_frame(acks[-1]) == []
    assert b.data_to_send()  # thawed by the ACKRPY


def test_no_ack_for_the_final_frame_or_small_messages() -> None:
    a, b = BlipConnection(max_frame_payload=40_000), BlipConnection()
    # 79,991 message bytes: frames of 40,000 and 39,991 payload bytes; the count crosses 50,000
    # only with the last frame, which is never ACKed.
    a.send_request({}, bytes(79_990))
    a.send_request({"Profile": "small"}, bytes(100))
    for frame in a.data_to_send():
        b.receive_frame(frame)
    assert b.data_to_send() == []


def test_acks_go_out_before_message_frames() -> None:
    a, b = BlipConnection(), BlipConnection()
    a.send_request({}, BIG)
    for frame in a.data_to_send():
        b.receive_frame(frame)
    b.send_request({"Profile": "x"})
    frames = b.data_to_send()
    assert [is_ack(f) for f in frames] == [True, True, False]


def test_unknown_acks_are_ignored() -> None:
    conn = BlipConnection()
    assert conn.receive_frame(bytes.fromhex("07 34 cb 87 03")) == []
    assert conn.receive_frame(bytes.fromhex("07 35 01")) == []
    assert conn.data_to_send() == []


@pytest.mark.parametrize(
    ("max_frame_payload", "frames"),
    [
        (63_996, 3),  # 2 frames count 2 x 64,000 = 128,000: at the limit, a third frame goes
        (42_663, 3),  # 3 frames count 3 x 42,667 = 128,001: over the limit, iced
    ],
)
def test_icing_threshold_is_exactly_128000_unacked_bytes(max_frame_payload: int, frames: int) -> None:
    conn = BlipConnection(max_frame_payload=max_frame_payload)
    conn.send_request({}, BIG)
    assert len(conn.data_to_send()) == frames
    assert conn.data_to_send() == []


@pytest.mark.parametrize(
    ("second_payload", "acks"),
    [
        (19_995, [[], [50_003]]),  # 30,000 + 19,999 = 49,999: no ACK until the next frame
        (19_996, [[50_000], []]),  # 30,000 + 20,000 = 50,000 exactly: ACK at once
    ],
)
def test_ack_when_the_count_reaches_a_multiple_of_50000(
    raw, second_payload: int, acks: list[list[int]]
) -> None:
    conn = BlipConnection()
    payload = raw.message({}) + bytes(100_000)
    assert conn.receive_frame(raw.frame(1, 0x40, payload[:29_996])) == []  # counts 30,000
    assert conn.data_to_send() == []
    assert conn.receive_frame(raw.frame(1, 0x40, payload[29_996 : 29_996 + second_payload])) == []
    assert [ack_count(a) for a in conn.data_to_send()] == acks[0]
    assert conn.receive_frame(raw.frame(1, 0x40, b"")) == []  # an empty frame still counts its CRC
    assert [ack_count(a) for a in conn.data_to_send()] == acks[1]
