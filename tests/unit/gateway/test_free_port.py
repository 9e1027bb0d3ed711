"""`free_port` picks listening ports outside the kernel's range for outgoing connections."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from rig.gateway import local
from rig.gateway.local import _ephemeral_low, free_port


def test_ports_come_from_below_the_outgoing_range_and_are_free() -> None:
    low = _ephemeral_low()
    ports = {free_port() for _ in range(50)}
    assert all(low - 12_000 <= p < low for p in ports)
    assert len(ports) > 40  # random, so two processes rarely pick alike
    for port in list(ports)[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_taken_port_is_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken, socket.socket() as spare:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        spare.bind(("127.0.0.1", 0))
        port, other = taken.getsockname()[1], spare.getsockname()[1]
        spare.close()  # free again: the pick after two taken ones
        picks = iter([port, port, other])

        class Scripted:
            def randrange(self, start: int, stop: int) -> int:
                return next(picks)

        monkeypatch.setattr(local, "_PICK", Scripted())
        monkeypatch.setattr(local, "_ephemeral_low", lambda: 60_000)
        assert free_port() == other


def test_the_range_is_read_from_the_kernel_or_assumed(tmp_path: Path) -> None:
    path = tmp_path / "range"
    path.write_text("40000\t60999\n")
    assert _ephemeral_low(path) == 40000
    assert _ephemeral_low(tmp_path / "missing") == 32768


def test_a_port_is_not_handed_out_twice_by_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        first, second = spare.getsockname()[1], 0
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        second = other.getsockname()[1]
    picks = iter([first, first, second])  # a random pick may repeat itself before anything binds

    class Scripted:
        def randrange(self, start: int, stop: int) -> int:
            return next(picks)

    monkeypatch.setattr(local, "_PICK", Scripted())
    monkeypatch.setattr(local, "_ephemeral_low", lambda: 60_000)
    monkeypatch.setattr(local, "_HANDED_OUT", local.deque(maxlen=10))
    assert [free_port(), free_port()] == [first, second]
