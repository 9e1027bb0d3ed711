"""DeviceLoop.watch: a descriptor that is not (yet) a replication's is served on the loop's thread."""

from __future__ import annotations

import os
import select
import socket
import time

import pytest

from rig.device.loop import DeviceLoop


def test_a_watched_descriptor_is_served_until_unwatched_and_its_events_can_change() -> None:
    loop = DeviceLoop()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    seen: list[int] = []

    def ready(events: int) -> None:
        seen.append(events)
        if events & select.EPOLLIN:
            ours.recv(100)

    loop.watch(ours.fileno(), select.EPOLLIN, ready)
    loop.run_until(time.monotonic() + 0.05)
    assert seen == []  # nothing to read yet
    theirs.send(b"x")
    loop.run_until(time.monotonic() + 1.0, done=lambda: bool(seen))
    assert seen == [select.EPOLLIN]
    loop.watch(ours.fileno(), select.EPOLLOUT, ready)  # watched again: the events change
    loop.run_until(time.monotonic() + 1.0, done=lambda: len(seen) > 1)
    assert seen[1] & select.EPOLLOUT
    loop.unwatch(ours.fileno())
    count = len(seen)
    theirs.send(b"y")
    loop.run_until(time.monotonic() + 0.1)
    assert len(seen) == count  # no longer served
    loop.unwatch(ours.fileno())  # twice: nothing
    loop.stop(grace_s=0.1)
    ours.close()
    theirs.close()


def test_a_failing_watcher_is_recorded_and_the_loop_goes_on() -> None:
    loop = DeviceLoop()
    ours, theirs = socket.socketpair()

    def broken(events: int) -> None:
        raise RuntimeError("boom")

    loop.watch(ours.fileno(), select.EPOLLIN, broken)
    theirs.send(b"x")
    loop.run_until(time.monotonic() + 0.2, done=lambda: bool(loop.errors))
    assert loop.errors and "watcher: RuntimeError: boom" in loop.errors[0]
    loop.unwatch(ours.fileno())
    loop.stop(grace_s=0.1)
    ours.close()
    theirs.close()


def test_a_closed_loop_takes_no_more_calls_and_writes_to_no_descriptor() -> None:
    loop = DeviceLoop()
    loop.start("closing")
    loop.shutdown()
    assert loop.thread is not None and not loop.thread.is_alive()
    reader, writer = os.pipe()  # may reuse the closed wake pipe's numbers
    try:
        loop.call_soon_threadsafe(lambda: None)  # a push for a device whose run ended: dropped
        os.set_blocking(reader, False)
        with pytest.raises(BlockingIOError):
            os.read(reader, 1)  # nothing was written into whatever now has the old numbers
    finally:
        os.close(reader)
        os.close(writer)
