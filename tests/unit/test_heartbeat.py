"""Couchbase Lite's WebSocket heartbeat (LiteCore WebSocketImpl.cc) as a pure machine on an injected clock."""

from __future__ import annotations

import pytest

from rig.transport.heartbeat import Heartbeat, HeartbeatAction

NONE, PING, TIMED_OUT = HeartbeatAction.NONE, HeartbeatAction.PING, HeartbeatAction.TIMED_OUT


def test_a_ping_after_300_s_with_nothing_received_and_none_before() -> None:
    beat = Heartbeat(1000.0)
    assert beat.next_due() == 1300.0
    assert beat.poll(1299.9) is NONE
    assert beat.poll(1300.0) is PING
    assert beat.poll(1300.1) is NONE  # one ping, then the pong is awaited
    assert beat.pings_sent == 1


def test_anything_received_pushes_the_ping_back() -> None:
    beat = Heartbeat(0.0)
    beat.received(250.0)
    assert beat.poll(300.0) is NONE
    assert beat.next_due() == 550.0
    assert beat.poll(550.0) is PING


def test_a_pong_within_20_s_keeps_the_connection_and_the_next_ping_is_300_s_later() -> None:
    beat = Heartbeat(0.0)
    assert beat.poll(300.0) is PING
    assert beat.next_due() == 320.0
    beat.received(300.5)  # the PONG
    assert beat.poll(320.0) is NONE
    assert beat.poll(600.4) is NONE
    assert beat.poll(600.5) is PING


def test_no_answer_within_20_s_of_the_ping_times_the_connection_out() -> None:
    beat = Heartbeat(0.0)
    assert beat.poll(300.0) is PING
    assert beat.poll(319.9) is NONE
    assert beat.poll(320.0) is TIMED_OUT


def test_a_short_interval_shortens_the_pong_timeout_as_litecore() -> None:
    assert Heartbeat(0.0, interval=10.0).pong_timeout == 9.0  # min(20 s, interval - 1 s)
    assert Heartbeat(0.0, interval=0.5, pong_timeout=2.0).pong_timeout == 2.0
    with pytest.raises(ValueError, match="must be positive"):
        Heartbeat(0.0, interval=0.0)
