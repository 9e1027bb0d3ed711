"""`rig bench fleet`: the gateway's hot path under a fleet, a wake storm, and memory per sleeping device.

(a) sustained: N devices replicate continuously while each writes to its team's channel,
    for growing N until Sync Gateway's throughput stops growing; rig and gateway CPU
    per document side by side, measured over the same interval.
(b) wake storm: sleeping devices all woken at once (one burst of pushes) to pull one new
    document each: time until 50/90/99 % of them have caught up.
(c) memory: resident memory per sleeping device holding its pulled documents.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
import tracemalloc
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

from rig.bench.bound import BOUND_LABELS, BoundWatch
from rig.bench.cpu import sample
from rig.bench.observe import DeviceCounts, SaturationWatch, gateway_counts, replication_shape
from rig.device import Credentials, VirtualDevice
from rig.device.loop import DeviceLoop
from rig.device.measure import percentile
from rig.gateway import AdminClient, DatabaseSpec, LocalGateway
from rig.gateway.build import binary_version
from rig.load.results import machine

_TEXT = "fleet benchmark " * 50


def _rss_bytes() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _devices(gateway: LocalGateway, admin: AdminClient, db: str, count: int, *, per_user: int,
             team_size: int, prefix: str) -> list[VirtualDevice]:
    """`count` devices, `per_user` per user, each with its own session (no bcrypt at every connect)."""
    users = [f"{prefix}-{i:05d}" for i in range((count + per_user - 1) // per_user)]
    for i, name in enumerate(users):
        admin.put_user(db, name, password=f"{name}-pw", admin_channels=[name, f"{prefix}-team-{i // team_size}"])
    devices = []
    for n in range(count):
        user = users[n // per_user]
        session = admin.create_session(db, user)
        devices.append(VirtualDevice(f"{gateway.public_url}/{db}", Credentials(user, session=session)))
    return devices


def _replicate(device: VirtualDevice, stop: threading.Event, timeout: float, errors: list[str]) -> None:
    try:
        device.sync(continuous=True, stop=stop, timeout=timeout)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")


def _write(device: VirtualDevice, channel: str, stop: threading.Event, writes_per_s: float,
           tally: _Tally) -> None:
    user = device.credentials.username
    k = 0
    while not stop.wait(1.0 / writes_per_s):
        device.store.put(f"{user}.{k}", {"owner": user, "channels": [channel], "text": _TEXT,
                                         "written_at": time.time()})
        device.local_changed()
        tally.add()
        k += 1


class _Tally:
    """Writes made by every device (the threads driver's writer threads share it)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.count += 1


def _loop_fleet(devices: list[VirtualDevice], stop: threading.Event, *, writes_from: float, writes_per_s: float,
                prefix: str, errors: list[str], tally: _Tally | None = None,
                team_devices: int = 10) -> threading.Thread:
    """`--driver loop`: every device's replication and writes on one selector loop (rig.device.loop), on
    one thread; the caller's thread only samples. Connects every device before it returns."""
    loop = DeviceLoop(errors=errors)
    for device in devices:
        try:
            loop.connect(device, continuous=True)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    period = 1.0 / writes_per_s
    counted = _Tally() if tally is None else tally

    def writer(device: VirtualDevice, channel: str) -> Callable[[float], None]:
        user = device.credentials.username
        counter = itertools.count()

        def write(due: float) -> None:
            if stop.is_set():
                return
            device.store.put(f"{user}.{next(counter)}", {"owner": user, "channels": [channel], "text": _TEXT,
                                                         "written_at": time.time()})
            device.local_changed()
            counted.add()
            # On a fixed grid (the next due time, not now + period): a late loop must not let a
            # user's two devices drift apart, or their writes of the same IDs stop conflicting.
            loop.call_at(due + period, partial(write, due + period))
        return write

    for i, device in enumerate(devices):
        # A user's two devices (2u, 2u+1) write their same IDs at the same instants, as the threads
        # started together do; users spread over one period.
        first = writes_from + period * (1 + (i // 2) * 2 / len(devices))
        loop.call_at(first, partial(writer(device, f"{prefix}-team-{i // team_devices}"), first))

    def serve() -> None:
        loop.run_until(float("inf"), done=stop.is_set)
        loop.stop()

    thread = threading.Thread(target=serve, name="device-loop", daemon=True)
    thread.start()
    return thread


def sustained(gateway: LocalGateway, admin: AdminClient, counts: list[int], *, seconds: float,
              writes_per_s: float, progress: Callable[[str], None], driver: str = "threads",
              team_size: int = 5,
              window: Callable[[], AbstractContextManager[object]] = nullcontext) -> list[dict[str, Any]]:
    """`window`: what runs around each measured window (tests starve the gateway or busy the rig there)."""
    rows: list[dict[str, Any]] = []
    pid = gateway.pid
    assert pid is not None
    for n in counts:
        db = f"sustained{n}"
        admin.create_database_from_spec(DatabaseSpec(db))
        devices = _devices(gateway, admin, db, n, per_user=2, team_size=team_size, prefix=f"s{n}")
        stop = threading.Event()
        errors: list[str] = []
        tally = _Tally()
        if driver == "loop":
            threads = [_loop_fleet(devices, stop, writes_from=time.monotonic() + 1.0, writes_per_s=writes_per_s,
                                   prefix=f"s{n}", errors=errors, tally=tally, team_devices=2 * team_size)]
        else:
            threads = [threading.Thread(target=_replicate, args=(d, stop, seconds + 60, errors), daemon=True)
                       for d in devices]
            for thread in threads:
                thread.start()
        time.sleep(1.0)
        counters = gateway_counts(admin, db)
        seen = _live_counts(devices)
        bound = BoundWatch(devices, gateway_pid=pid)
        with window():
            watch = SaturationWatch().start()
            bound.begin()
            written = tally.count
            before = sample(pid)
            writers = [] if driver == "loop" else [
                threading.Thread(target=_write, args=(d, f"s{n}-team-{i // (2 * team_size)}", stop, writes_per_s,
                                                      tally), daemon=True)
                for i, d in enumerate(devices)]
            for thread in writers:
                thread.start()
            window_ends = time.monotonic() + seconds
            while (left := window_ends - time.monotonic()) > 0:
                time.sleep(min(1.0, left))
                bound.sample()
            after = sample(pid)
            bound.writes_made = tally.count - written
            bound.end()
            verdict = watch.verdict()
        counters_after = gateway_counts(admin, db)
        shape = replication_shape(counters, counters_after, _live_counts(devices).minus(seen))
        pushed = counters_after["docs_pushed"] - counters["docs_pushed"]
        pulled = counters_after["revs_sent"] - counters["revs_sent"]
        stop.set()
        for thread in threads + writers:
            thread.join(30)
        wall = after.wall - before.wall
        moved = pushed + pulled
        gateway_cores = (after.gateway_cpu - before.gateway_cpu) / wall
        row = {"devices": n, "wall_s": round(wall, 2), "push_docs_per_s": round(pushed / wall, 1),
               "pull_docs_per_s": round(pulled / wall, 1),
               "rig_cpu_s_per_1000_docs": round((after.rig_cpu - before.rig_cpu) * 1000 / max(moved, 1), 4),
               "gateway_cpu_s_per_1000_docs": round((after.gateway_cpu - before.gateway_cpu) * 1000 / max(moved, 1), 4),
               "gateway_cores_busy": round((after.gateway_cpu - before.gateway_cpu) / wall, 2),
               "rig_cores_busy": round((after.rig_cpu - before.rig_cpu) / wall, 2), "errors": len(errors),
               **verdict, "replication": shape,
               **bound.verdict(rig=verdict["rig"], gateway_cores=gateway_cores, wall_s=wall,
                               gateway_delta={k: counters_after[k] - counters[k] for k in counters})}
        rows.append(row)
        progress(f"sustained {row}")
        progress(f"sustained {n} devices: {BOUND_LABELS[row['bound']]}: {row['bound_reason']}")
        if len(rows) >= 2 and moved / wall < 1.1 * (rows[-2]["push_docs_per_s"] + rows[-2]["pull_docs_per_s"]):
            progress(f"throughput stopped growing at {n} devices: {BOUND_LABELS[row['bound']]}")
            break
    return rows


def _live_counts(devices: list[VirtualDevice]) -> DeviceCounts:
    """What the devices' running replications counted so far (changes rows, conflicts, documents)."""
    return DeviceCounts.of(session.stats if (session := d.session) is not None else None for d in devices)


def _in_parallel(devices: list[VirtualDevice], action: Callable[[VirtualDevice], object], threads: int) -> None:
    queue = list(devices)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                device = queue.pop()
            action(device)

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(600)


def wake_storm(gateway: LocalGateway, admin: AdminClient, count: int, *, concurrency: int,
               progress: Callable[[str], None]) -> dict[str, Any]:
    db = "storm"
    admin.create_database_from_spec(DatabaseSpec(db))
    devices = _devices(gateway, admin, db, count, per_user=10, team_size=count, prefix="w")
    admin.put_document(db, "before", {"channels": ["w-team-0"], "text": _TEXT})
    admin.wait_for_changes_feed(db)
    _in_parallel(devices, lambda d: d.sync(timeout=60), concurrency)  # every device synced once, then sleeps
    admin.put_document(db, "news", {"channels": ["w-team-0"], "text": _TEXT})
    admin.wait_for_changes_feed(db)
    done: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    pending = list(devices)
    started = time.monotonic()

    def wake_worker() -> None:
        # Each worker thread plays the devices whose push it picks up, one wake each.
        while True:
            with lock:
                if not pending:
                    return
                device = pending.pop()
            try:
                device.sync(push=False, timeout=120)
                with lock:
                    done.append(time.monotonic() - started)
            except Exception as exc:
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=wake_worker, daemon=True) for _ in range(concurrency)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(600)
    caught_up = [d for d in devices if d.store.get("news") is not None]
    result = {"devices": count, "concurrent_connections": concurrency, "caught_up": len(caught_up),
              "failures": len(failures),
              "time_to_caught_up_s": {f"p{q}": round(percentile(done, q) or 0.0, 3) for q in (50, 90, 99)}}
    progress(f"wake storm {result}")
    return result


def memory(gateway: LocalGateway, admin: AdminClient, count: int, docs: int,
           progress: Callable[[str], None]) -> dict[str, Any]:
    db = "memory"
    admin.create_database_from_spec(DatabaseSpec(db))
    admin.put_user(db, "m", password="m-pw-1", admin_channels=["m"])
    seed = [{"_id": f"doc-{i}", "channels": ["m"], "text": "x" * 900} for i in range(docs)]
    admin.bulk_docs(db, seed)
    admin.wait_for_changes_feed(db)
    gc.collect()
    before = _rss_bytes()
    tracemalloc.start()
    fleet = []
    for _ in range(count):
        # Each device really pulls its documents, then sleeps holding them.
        device = VirtualDevice(f"{gateway.public_url}/{db}", Credentials("m", "m-pw-1"))
        device.sync(push=False, timeout=60)
        fleet.append(device)
    gc.collect()
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = _rss_bytes()
    per_device = traced / count
    result = {"devices": count, "documents_per_device": docs, "document_body_bytes": len(seed[0]["text"]) + 40,
              "python_heap_per_sleeping_device_kib": round(per_device / 1024, 1),
              "python_heap_per_document_bytes": round(per_device / docs, 1),
              "rss_growth_per_device_kib": round((after - before) / count / 1024, 1),
              "note": "heap measured with tracemalloc (what the devices' objects hold, connections closed); "
                      "RSS growth is lower when memory freed by earlier parts is reused"}
    progress(f"memory {result}")
    del fleet
    return result


def run(binary: Path, run_dir: Path, *, counts: list[int], seconds: float, writes_per_s: float,
        storm: int, storm_concurrency: int, memory_devices: int,
        progress: Callable[[str], None] = print,
        parts: set[str] | frozenset[str] = frozenset({"sustained", "storm", "memory"}),
        driver: str = "threads") -> dict[str, Any]:
    with LocalGateway(binary, run_dir / "gateway", databases=[DatabaseSpec("boot")], log_level="warn") as gateway:
        admin = AdminClient(gateway.admin_url, gateway.metrics_url)
        result: dict[str, Any] = {
            "benchmark": "fleet", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "gateway": binary_version(binary), "storage": "rosmar in memory", "machine": machine(),
        }
        if "sustained" in parts:
            result["sustained"] = sustained(gateway, admin, counts, seconds=seconds, writes_per_s=writes_per_s,
                                            progress=progress, driver=driver)
        if "storm" in parts:
            result["wake_storm"] = wake_storm(gateway, admin, storm, concurrency=storm_concurrency,
                                              progress=progress)
        if "memory" in parts:
            result["memory"] = memory(gateway, admin, memory_devices, 50, progress)
    return result
