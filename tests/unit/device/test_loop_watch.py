"""DeviceLoop.watch: a descriptor that is not (yet) a replication's is served on the loop's thread."""

from __future__ import annotations

import select
import socket
import time

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
