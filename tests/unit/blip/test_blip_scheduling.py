"""Frame order on the wire, fragmentation sizes, and deflate details."""

from __future__ import annotations

import os
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.blip import BlipConnection, Request, Response, decode_frame_header


def headers(frames: list[bytes]) -> list[tuple[int, int]]:
    return [decode_frame_header(f) for f in frames]


def test_fragment_sizes_follow_go_blip() -> None:
    conn = BlipConnection()
    conn.send_request({}, bytes(40_000 - 1))  # 40,000 message bytes
    frames = conn.data_to_send()
    assert [len(f) for f in frames] == [2 + 16_374 + 4, 2 + 16_374 + 4, 2 + 7_252 + 4]
    assert headers(frames) == [(1, 0x40), (1, 0x40), (1, 0x00)]


def test_exact_multiple_of_the_chunk_has_no_empty_last_frame() -> None:
    conn = BlipConnection(max_frame_payload=100)
    conn.send_request({}, bytes(199))
    assert [len(f) for f in conn.data_to_send()] == [106, 106]


def test_messages_take_turns_frame_by_frame() -> None:
    conn = BlipConnection(max_frame_payload=100)
    conn.send_request({}, bytes(299))
    conn.send_request({}, bytes(199))
    conn.send_request({}, bytes(50))
    assert headers(conn.data_to_send()) == [(1, 0x40), (2, 0x40), (3, 0x00), (1, 0x40), (2, 0x00), (1, 0x00)]


def test_urgent_goes_first_but_never_starts_before_a_lower_request() -> None:
    conn = BlipConnection(max_frame_payload=100)
    conn.send_request({}, bytes(299))
    conn.send_request({}, bytes(199), urgent=True)
    assert headers(conn.data_to_send()) == [(1, 0x40), (2, 0x50), (2, 0x10), (1, 0x40), (1, 0x00)]


def test_urgent_overtakes_a_started_normal_message() -> None:
    conn = BlipConnection(max_frame_payload=100)
    conn.send_request({}, bytes(299))
    first = conn.data_to_send()
    conn.send_request({}, bytes(99), urgent=True)
    conn.send_request({}, bytes(99))
    assert headers(first) == [(1, 0x40), (1, 0x40), (1, 0x00)]
    assert headers(conn.data_to_send()) == [(2, 0x10), (3, 0x00)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 700), st.booleans(), st.booleans()), min_size=1, max_size=12))
def test_first_frames_of_requests_are_in_number_order(specs: list[tuple[int, bool, bool]]) -> None:
    conn = BlipConnection(max_frame_payload=64)
    peer = BlipConnection()
    for size, urgent, compress in specs:
        conn.send_request({}, bytes(size), urgent=urgent, compress=compress)
    started: list[int] = []
    for frame in conn.data_to_send():
        number, _ = decode_frame_header(frame)
        if number not in started:
            started.append(number)
        peer.receive_frame(frame)  # would raise on a bad request number
    assert started == list(range(1, len(specs) + 1))


def test_urgent_replies_before_normal_ones_and_inherit_urgency(raw) -> None:
    conn = BlipConnection(max_frame_payload=100)
    conn.receive_frame(raw.frame(1, 0x00, raw.message({})))
    conn.receive_frame(raw.frame(2, 0x10, raw.message({})))
    conn.send_response(1, {}, bytes(150))
    conn.send_error(2, code=503)
    assert headers(conn.data_to_send()) == [(2, 0x12), (1, 0x41), (1, 0x01)]


def test_compressed_flag_on_every_frame_and_never_on_empty_chunks() -> None:
    conn = BlipConnection(max_frame_payload=64)
    conn.send_request({"Profile": "rev"}, b"abc" * 100, compress=True)
    conn.send_request({}, compress=True)
    frames = conn.data_to_send()
    assert all(flags & 0x08 for _, flags in headers(frames))
    assert all(len(f) > 2 + 4 for f in frames)
    peer = BlipConnection()
    events = [e for f in frames for e in peer.receive_frame(f)]
    assert events == [Request(2, {}), Request(1, {"Profile": "rev"}, b"abc" * 100)]  # 2 ends first


def test_compression_level_0_sends_plain_frames() -> None:
    conn = BlipConnection(compression_level=0)
    conn.send_request({"Profile": "rev"}, b"abc" * 100, compress=True)
    (frame,) = conn.data_to_send()
    assert decode_frame_header(frame) == (1, 0x00)
    assert b"abc" * 100 in frame


def test_incompressible_compressed_frames_stay_within_the_frame_budget() -> None:
    body = bytes(range(256)) * 3 + os.urandom(100_000)
    conn = BlipConnection()
    conn.send_request({}, body, compress=True)
    frames = conn.data_to_send()
    assert max(len(f) for f in frames) <= 16_374 + 2 + 4
    peer = BlipConnection()
    assert [e for f in frames for e in peer.receive_frame(f)] == [Request(1, {}, body)]


@pytest.mark.parametrize("level", [0, 1, 9])
def test_decodes_stored_and_other_deflate_blocks(raw, level: int) -> None:
    raw.z = zlib.compressobj(level, zlib.DEFLATED, -15)
    conn = BlipConnection()
    body = b'{"a":"' + b"x" * 100 + b'"}'
    first = raw.message({"Profile": "rev"}, body)
    second = raw.message({"Profile": "changes"}, b"[]")
    assert conn.receive_frame(raw.compressed(1, 0x00, first)) == [Request(1, {"Profile": "rev"}, body)]
    assert conn.receive_frame(raw.compressed(2, 0x00, second)) == [Request(2, {"Profile": "changes"}, b"[]")]


def test_decodes_frames_with_several_flushes_and_mixed_plain_frames(raw) -> None:
    conn = BlipConnection()
    message = raw.message({"Profile": "rev", "id": "d"}, b"0123456789" * 500)
    assert conn.receive_frame(raw.compressed(1, 0x40, message[:2000], flushes=3)) == []
    assert conn.receive_frame(raw.frame(1, 0x40, message[2000:3000])) == []
    assert conn.receive_frame(raw.frame(1, 0x48, b"")) == []  # empty compressed payload
    (event,) = conn.receive_frame(raw.compressed(1, 0x00, message[3000:], flushes=4))
    assert event == Request(1, {"Profile": "rev", "id": "d"}, b"0123456789" * 500)


def test_reply_frames_continue_across_other_traffic(raw) -> None:
    conn = BlipConnection()
    conn.send_request({"Profile": "getAttachment"})
    conn.data_to_send()
    reply = raw.message({"k": "v"}, b"z" * 100)
    assert conn.receive_frame(raw.compressed(1, 0x41, reply[:40])) == []
    assert conn.receive_frame(raw.frame(1, 0x00, raw.message({}))) == [Request(1, {})]
    assert conn.receive_frame(raw.compressed(1, 0x01, reply[40:])) == [Response(1, {"k": "v"}, b"z" * 100)]
