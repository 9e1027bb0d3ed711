"""The device side of `rig bench capacity`: one process holding its share of the sleeping fleet.

The coordinator (`rig.bench.capacity`) starts one or more of these (spawned, so no thread of the
coordinator is copied in) and talks to each over a pipe:

- `("add", url, [(user, (cookie, session)), ...])`: make those devices and sync each once, so each
  holds its user's documents and a checkpoint, then lets it sleep (no connection open);
  answers `("added", failures)`.
- `("storm", at, budget, count, step, backlog)`: the first `count` devices receive a silent push at the
  epoch time `at`, all at once, and each runs the one-shot push and pull a woken app runs, killed
  at `budget` seconds after the push as iOS kills an app over its budget. A device is caught up
  when it holds every document of its user's backlog for that step (`backlog_ids`). Answers `("stormed", result)`.
- `("stop",)`.

All of a worker's devices run on one event loop (`rig.device.loop`, on the process's main thread):
each wake opens its WebSocket on the loop (`rig.device.loop_open`: non-blocking connect and upgrade)
and replicates there, so thousands of devices wake at one instant with no thread each (one OS thread
per device saturated the worker at 1,600-3,200 devices on one core, measured 2026-12-07: the threads'
wait for the GIL and the core, not their work). Phones are independent, so no wake waits for a free
slot: every device starts at the push, in batches of `_WAKE_BATCH` with the loop serving sockets in
between. The process measures its own saturation over the storm (`rig.metrics.saturation`), since a
storm that saturated the rig timed the rig.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from rig._errors import ConnectError
from rig.device import Credentials, VirtualDevice
from rig.device.loop import DeviceLoop, ReplicationCut
from rig.device.loop_open import LoopOpen
from rig.metrics.saturation import MIN_JUDGED_S, merge_summaries, monitor

_SYNC_AT_ONCE = 200
"""Devices syncing at once while the fleet is laid down (not measured: only its failures count)."""
_SYNC_TIMEOUT_S = 600.0
_WAKE_BATCH = 100
"""Devices started per pass of the loop at the push: starting thousands back to back would leave the
first ones' sockets unserved meanwhile (their start-up lateness still counts against the budget)."""
_MAX_ERRORS = 10
_KILLED = "over the push budget: iOS killed the app"


def _first_sync(loop: DeviceLoop, devices: list[VirtualDevice]) -> list[str]:
    queue = deque(devices)
    errors: list[str] = []
    left = len(devices)

    def next_one() -> None:
        if queue:
            device = queue.popleft()
            LoopOpen(loop, device, ender(device)).start()

    def ender(device: VirtualDevice) -> Callable[[BaseException | None], None]:
        def ended(error: BaseException | None) -> None:
            nonlocal left
            left -= 1
            if error is not None:
                errors.append(f"{device.name}: {type(error).__name__}: {error}")
            loop.call_at(time.monotonic(), next_one)  # not from inside the callback: no recursion
        return ended

    for _ in range(min(_SYNC_AT_ONCE, len(devices))):
        next_one()
    loop.run_until(time.monotonic() + _SYNC_TIMEOUT_S, done=lambda: left == 0)
    if left:
        errors.append(f"{left} device(s) not synced within {_SYNC_TIMEOUT_S:g} s")
    return errors


def backlog_ids(user: str, step: int, backlog: int) -> list[str]:
    """The documents written for `user` before storm `step`: what its device must hold to be up to date."""
    return [f"{user}.s{step}.{k}" for k in range(backlog)]


def storm(loop: DeviceLoop, devices: list[VirtualDevice], at: float, budget: float, step: int, backlog: int,
          *, process: str, cpu_threshold: float, lag_threshold_s: float) -> dict[str, Any]:
    """Wake `devices` at epoch `at`; each one's catch-up time in seconds, `inf` when over budget."""
    catch_up = [math.inf] * len(devices)
    errors: list[str] = []
    incomplete = failed = 0
    left = len(devices)
    start = at + time.monotonic() - time.time()  # the push, on the loop's clock
    kill = start + budget

    def ender(index: int, device: VirtualDevice) -> Callable[[BaseException | None], None]:
        def ended(error: BaseException | None) -> None:
            nonlocal left, incomplete, failed
            left -= 1
            took = time.time() - at
            if error is None:
                wanted = backlog_ids(device.credentials.username, step, backlog)
                if not all(device.store.get(doc_id) is not None for doc_id in wanted):
                    incomplete += 1
                elif took <= budget:
                    catch_up[index] = took
            elif isinstance(error, ReplicationCut) or (isinstance(error, ConnectError) and error.timed_out):
                pass  # the budget's kill (or an open that took it all): over budget
            else:  # over budget too, and counted as an error
                failed += 1
                if len(errors) < _MAX_ERRORS:
                    errors.append(f"{device.name}: {type(error).__name__}: {error}")
        return ended

    # The fleet's objects (every device's documents, thousands of devices) live as long as the worker: out
    # of the collector's sight (gc.freeze), a full collection during the storm scans only the storm's own
    # objects. Measured here: without it a 4,000-device storm paused the loop 0.81 s in one collection
    # (loop lag p99 0.78 s: a storm invalid by the rig's own collector).
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    # Before the push: each device's socket and upgrade request (nothing sent; a woken phone builds them
    # on its own CPU), so the rig's work from the push on is what a phone's network would see.
    opens = [LoopOpen(loop, device, ender(index, device)) for index, device in enumerate(devices)]
    for one in opens:
        one.prepare()

    def wake(first: int) -> None:
        for one in opens[first:first + _WAKE_BATCH]:
            remaining = kill - time.monotonic()  # the rig's own start-up lateness counts, as on a phone
            if remaining <= 0:
                one.cut(_KILLED)
                continue
            one.device.connect_timeout = remaining
            one.start()
        if first + _WAKE_BATCH < len(devices):
            loop.call_at(time.monotonic(), lambda: wake(first + _WAKE_BATCH))

    def kill_all() -> None:
        for one in opens:
            one.cut(_KILLED)

    loop.call_at(start, lambda: wake(0))
    loop.call_at(kill, kill_all)
    pauses = _GcPauses().start()
    watch = monitor(process, cpu_threshold=cpu_threshold, lag_threshold_s=lag_threshold_s)
    cpu_before = time.process_time()
    loop.run_until(kill + 30, done=lambda: left == 0)
    cpu = time.process_time() - cpu_before
    rig = merge_summaries([watch.stop()])
    pauses.stop()
    # The monitor judges whole seconds; a storm over in less still says how busy the process was.
    seconds = time.time() - at
    ratio = cpu / seconds if seconds > 0 else 0.0
    if seconds >= MIN_JUDGED_S and ratio >= cpu_threshold:
        rig["saturated"] = True
        rig["saturated_seconds"] = max(rig["saturated_seconds"], round(seconds, 2))
        rig["saturated_processes"] = [process]
    rig["cpu_ratio_max"] = max(rig["cpu_ratio_max"], round(ratio, 3))
    return {"catch_up_s": catch_up, "errors": errors, "failed": failed, "incomplete": incomplete, "rig_cpu_s": cpu,
            "rig": {k: v for k, v in rig.items() if k != "by_process"},
            "gc": {"pause_max_s": round(pauses.longest, 4), "pause_total_s": round(pauses.total, 3),
                   "collections": pauses.count}}


class _GcPauses:
    """CPython's garbage collector's pauses (it holds the GIL throughout): a full collection over a fleet of
    thousands of devices' objects stops the loop and every device for as long as it takes."""

    def __init__(self) -> None:
        self.longest = self.total = 0.0
        self.count = 0
        self._began = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        took = time.perf_counter() - self._began
        self.longest = max(self.longest, took)
        self.total += took
        self.count += 1

    def start(self) -> _GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._callback)


def serve(conn: Connection, process: str, cores: list[int] | None, cpu_threshold: float,
          lag_threshold_s: float) -> None:
    """A worker's main loop (the target of its `multiprocessing` process); its DeviceLoop runs on this
    thread while the fleet is laid down and during each storm, and idles (no connection open) between."""
    if cores:
        os.sched_setaffinity(0, cores)
    loop = DeviceLoop()
    devices: list[VirtualDevice] = []
    while True:
        message = conn.recv()
        kind = message[0]
        if kind == "add":
            _, url, users = message
            fresh = [VirtualDevice(url, Credentials(user, session=(session[0], session[1]))) for user, session in users]
            devices.extend(fresh)
            conn.send(("added", _first_sync(loop, fresh)))
        elif kind == "storm":
            _, at, budget, count, step, backlog = message
            conn.send(("stormed", storm(loop, devices[:count], at, budget, step, backlog, process=process,
                                        cpu_threshold=cpu_threshold, lag_threshold_s=lag_threshold_s)))
        else:
            loop.stop(grace_s=2.0)
            conn.close()
            return
