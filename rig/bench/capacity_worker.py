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

Every device has its own thread, started before `at` and parked on one event: phones are
independent, so a thread pool would queue wakes in the rig and time the rig's pool, not the
gateway. The process measures its own saturation over the storm (`rig.metrics.saturation`),
since a storm that saturated the rig timed the rig.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from rig.device import Credentials, VirtualDevice
from rig.metrics.saturation import MIN_JUDGED_S, merge_summaries, monitor
from rig.replicator.session import ReplicationTimedOut

_SYNC_THREADS = 16
"""Devices synced at once while the fleet is laid down (not measured: only its failures count)."""
_MAX_ERRORS = 10
_SWITCH_INTERVAL_S = 0.05
"""CPython hands the GIL to a waiting thread every 5 ms by default; with hundreds of device threads
those forced hand-offs (futex storms) cost more than the devices' work: at 0.05 s a 1,600-device storm
costs the worker 0.75 of a core instead of saturating it (measured here, 2026-12-07). Threads still
give the GIL up at every socket wait, which is where devices spend their time."""
_STACK_BYTES = 512 * 1024
"""Per device thread: thousands of them at 8 MiB of address space each would be wasteful."""


def _first_sync(devices: list[VirtualDevice]) -> list[str]:
    queue = list(devices)
    lock = threading.Lock()
    errors: list[str] = []

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                device = queue.pop()
            try:
                device.sync(timeout=120)
            except Exception as exc:
                with lock:
                    errors.append(f"{device.name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, daemon=True) for _ in range(_SYNC_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    return errors


def backlog_ids(user: str, step: int, backlog: int) -> list[str]:
    """The documents written for `user` before storm `step`: what its device must hold to be up to date."""
    return [f"{user}.s{step}.{k}" for k in range(backlog)]


def storm(devices: list[VirtualDevice], at: float, budget: float, step: int, backlog: int,
          *, process: str, cpu_threshold: float, lag_threshold_s: float) -> dict[str, Any]:
    """Wake `devices` at epoch `at`; each one's catch-up time in seconds, `inf` when over budget."""
    catch_up = [math.inf] * len(devices)
    errors: list[str] = []
    incomplete = failed = 0
    go = threading.Event()
    lock = threading.Lock()

    def wake(index: int, device: VirtualDevice) -> None:
        nonlocal incomplete, failed
        go.wait()
        late = time.time() - at  # the thread's own start-up lateness counts against the budget, as on a phone
        device.connect_timeout = max(0.01, budget - late)
        try:
            device.sync(timeout=max(0.01, budget - late))
        except (ReplicationTimedOut, TimeoutError):
            return  # the budget's kill: over budget
        except Exception as exc:  # over budget too, and counted as an error
            with lock:
                failed += 1
                if len(errors) < _MAX_ERRORS:
                    errors.append(f"{device.name}: {type(exc).__name__}: {exc}")
            return
        took = time.time() - at
        wanted = backlog_ids(device.credentials.username, step, backlog)
        if all(device.store.get(doc_id) is not None for doc_id in wanted):
            if took <= budget:
                catch_up[index] = took
        else:
            with lock:
                incomplete += 1

    threads = [threading.Thread(target=wake, args=(i, d), daemon=True) for i, d in enumerate(devices)]
    for thread in threads:
        thread.start()
    watch = monitor(process, cpu_threshold=cpu_threshold, lag_threshold_s=lag_threshold_s)
    cpu_before = time.process_time()
    time.sleep(max(0.0, at - time.time()))
    go.set()
    for thread in threads:
        thread.join(max(1.0, at + budget + 30 - time.time()))
    cpu = time.process_time() - cpu_before
    rig = merge_summaries([watch.stop()])
    # The monitor judges whole seconds; a storm over in less still says how busy the process was.
    seconds = time.time() - at
    ratio = cpu / seconds if seconds > 0 else 0.0
    if seconds >= MIN_JUDGED_S and ratio >= cpu_threshold:
        rig["saturated"] = True
        rig["saturated_seconds"] = max(rig["saturated_seconds"], round(seconds, 2))
        rig["saturated_processes"] = [process]
    rig["cpu_ratio_max"] = max(rig["cpu_ratio_max"], round(ratio, 3))
    return {"catch_up_s": catch_up, "errors": errors, "failed": failed, "incomplete": incomplete, "rig_cpu_s": cpu,
            "rig": {k: v for k, v in rig.items() if k != "by_process"}}


def serve(conn: Connection, process: str, cores: list[int] | None, cpu_threshold: float,
          lag_threshold_s: float) -> None:
    """A worker's main loop (the target of its `multiprocessing` process)."""
    if cores:
        os.sched_setaffinity(0, cores)
    threading.stack_size(_STACK_BYTES)
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    devices: list[VirtualDevice] = []
    while True:
        message = conn.recv()
        kind = message[0]
        if kind == "add":
            _, url, users = message
            fresh = [VirtualDevice(url, Credentials(user, session=(session[0], session[1]))) for user, session in users]
            devices.extend(fresh)
            conn.send(("added", _first_sync(fresh)))
        elif kind == "storm":
            _, at, budget, count, step, backlog = message
            conn.send(("stormed", storm(devices[:count], at, budget, step, backlog, process=process,
                                        cpu_threshold=cpu_threshold, lag_threshold_s=lag_threshold_s)))
        else:
            conn.close()
            return
