"""The release check's fixed benchmark set, against any started gateway (rig.gateway.resolve).

Every figure is the gateway's own CPU per document (its process's CPU from /proc, or its
`process_cpu_seconds_total` metric for a gateway given by URL), the least of `repeats`
measurements, so a build that costs more per document shows even on a shared machine where
wall-clock throughput is noise. The set:

- pull, 1 device: a fresh device pulls the same seeded documents, `repeats` times: after the
  first pull a gateway serves them from its revision and channel caches, so a build (or a
  setting) with smaller caches pays for every pull again;
- push, 1 device: a device pushes `docs` new documents;
- pull, N devices in parallel: N fresh devices pull the seeded documents at once;
- sustained fleet: N devices replicate continuously while each writes to its team's channel;
- wake storm: sleeping devices all pull one new document at once (time to catch up).
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rig.device import Credentials, VirtualDevice
from rig.device.measure import percentile
from rig.gateway.admin import AdminClient
from rig.gateway.resolve import ResolvedGateway

_BODY = "lorem ipsum dolor sit amet " * 36  # ~1 KB documents


@dataclass(frozen=True, slots=True)
class BenchSizes:
    docs: int = 2000
    """Seeded documents (below the default revision cache's 5,000, so the default caches them all)."""
    repeats: int = 5
    parallel: int = 4
    fleet_devices: int = 20
    fleet_seconds: float = 10.0
    storm_devices: int = 100

    def as_dict(self) -> dict[str, Any]:
        return {"docs": self.docs, "repeats": self.repeats, "parallel": self.parallel,
                "fleet_devices": self.fleet_devices, "fleet_seconds": self.fleet_seconds,
                "storm_devices": self.storm_devices}


class _Meter:
    """Gateway and rig CPU over one interval."""

    def __init__(self, gateway: ResolvedGateway) -> None:
        self.gateway = gateway

    def measure(self, name: str, work: Callable[[], int]) -> dict[str, Any]:
        gw0, rig0, wall0 = self.gateway.cpu_seconds(), time.process_time(), time.monotonic()
        moved = work()
        gw1, rig1, wall1 = self.gateway.cpu_seconds(), time.process_time(), time.monotonic()
        wall = wall1 - wall0
        per_k = 1000 / max(moved, 1)
        gw_cpu = None if gw0 is None or gw1 is None else gw1 - gw0
        return {"scenario": name, "documents_moved": moved, "wall_s": round(wall, 3),
                "docs_per_s": round(moved / wall, 1) if wall > 0 else None,
                "rig_cpu_s_per_1000_docs": round((rig1 - rig0) * per_k, 4),
                "gateway_cpu_s_per_1000_docs": None if gw_cpu is None else round(gw_cpu * per_k, 4)}


def _summary(name: str, samples: list[dict[str, Any]], *, judged: bool = True) -> dict[str, Any]:
    """One row: CPU per document as the least of the samples (other work on a shared machine only ever adds
    CPU time: cache misses, the Go scheduler spinning while it waits), throughput as the median."""
    row: dict[str, Any] = {"scenario": name, "repeats": len(samples), "judged": judged and len(samples) >= 2}
    for key in ("documents_moved", "docs_per_s"):
        values = [s[key] for s in samples if isinstance(s.get(key), (int, float))]
        row[key] = round(statistics.median(values), 4) if values else None
    for key in ("rig_cpu_s_per_1000_docs", "gateway_cpu_s_per_1000_docs"):
        values = [s[key] for s in samples if isinstance(s.get(key), (int, float))]
        row[key] = round(min(values), 4) if values else None
    row["gateway_cpu_samples"] = [s["gateway_cpu_s_per_1000_docs"] for s in samples]
    return row


def _parallel(devices: list[VirtualDevice], action: Callable[[VirtualDevice], int]) -> int:
    totals: list[int] = []
    errors: list[BaseException] = []

    def run(device: VirtualDevice) -> None:
        try:
            totals.append(action(device))
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,), daemon=True) for d in devices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    if errors:
        raise errors[0]
    return sum(totals)


def run_bench(gateway: ResolvedGateway, *, sizes: BenchSizes, parts: frozenset[str],
              progress: Callable[[str], None]) -> dict[str, Any]:
    """The benchmark set on one database the rig creates (`rc_bench_*`); its rows, medians first."""
    admin = gateway.admin()
    db = f"rc_bench_{uuid.uuid4().hex[:8]}"
    admin.create_database_from_spec(gateway.database_spec(db))
    try:
        return _run(gateway, admin, db, sizes, parts, progress)
    finally:
        if gateway.name.kind == "url":
            admin.delete_database(db)
        admin.close()


def _run(gateway: ResolvedGateway, admin: AdminClient, db: str, sizes: BenchSizes, parts: frozenset[str],
         progress: Callable[[str], None]) -> dict[str, Any]:
    url = f"{gateway.controller.public_url}/{db}"
    users = [f"bench-{i}" for i in range(max(sizes.parallel, 1))]
    for user in users:
        admin.put_user(db, user, password=f"{user}-pw", admin_channels=[user, "shared"])
    seed = [{"_id": f"seed-{i}", "owner": "shared", "channels": ["shared"], "n": i, "text": _BODY}
            for i in range(sizes.docs)]
    for start in range(0, len(seed), 500):
        admin.bulk_docs(db, seed[start:start + 500])
    admin.wait_for_changes_feed(db)
    meter = _Meter(gateway)
    rows: list[dict[str, Any]] = []

    def device(user: str, channel: str = "shared") -> VirtualDevice:
        return VirtualDevice(url, Credentials(user, f"{user}-pw"), channels=(channel,))

    def pull(d: VirtualDevice) -> int:
        return d.sync(push=False, timeout=600).docs_pulled

    if "pull" in parts:
        pull(device(users[0]))  # unmeasured: the first pull reads every document from storage on any gateway
        samples = [meter.measure("pull", lambda: pull(device(users[0]))) for _ in range(sizes.repeats)]
        rows.append(_summary("pull, 1 device (one-shot, same documents each time)", samples))
        progress(_row_text(rows[-1]))
    if "push" in parts:
        samples = []
        for r in range(sizes.repeats):
            writer = device(users[0], users[0])
            for i in range(sizes.docs):
                writer.store.put(f"push-{r}-{i}", {"owner": users[0], "channels": [users[0]], "n": i, "text": _BODY})
            samples.append(meter.measure("push", _pusher(writer)))
        rows.append(_summary("push, 1 device (one-shot, new documents)", samples))
        progress(_row_text(rows[-1]))
    if "parallel" in parts:
        samples = [meter.measure("parallel", lambda: _parallel([device(u) for u in users], pull))
                   for _ in range(sizes.repeats)]
        rows.append(_summary(f"pull, {len(users)} devices in parallel", samples))
        progress(_row_text(rows[-1]))
    result: dict[str, Any] = {"database": db, "sizes": sizes.as_dict(), "results": rows}
    if "fleet" in parts:
        rows.append(_sustained(gateway, admin, db, url, sizes))
        progress(_row_text(rows[-1]))
    if "storm" in parts:
        result["wake_storm"] = _storm(admin, db, url, sizes.storm_devices)
        progress(f"wake storm: {result['wake_storm']}")
    return result


def _pusher(device: VirtualDevice) -> Callable[[], int]:
    return lambda: device.sync(pull=False, timeout=600).docs_pushed


def _row_text(row: dict[str, Any]) -> str:
    return (f"  {row['scenario']}: {row.get('docs_per_s')} docs/s, gateway CPU "
            f"{row.get('gateway_cpu_s_per_1000_docs')} s per 1,000 documents "
            f"(samples {row.get('gateway_cpu_samples')})")


def _sustained(gateway: ResolvedGateway, admin: AdminClient, db: str, url: str, sizes: BenchSizes) -> dict[str, Any]:
    """N devices replicating continuously, each writing 4 documents/s to its team of five."""
    users = [f"fleet-{i}" for i in range(sizes.fleet_devices)]
    for i, user in enumerate(users):
        admin.put_user(db, user, password=f"{user}-pw", admin_channels=[f"team-{i // 5}"])
    devices = [VirtualDevice(url, Credentials(u, f"{u}-pw")) for u in users]
    stop = threading.Event()
    replicating = [threading.Thread(target=_continuous, args=(d, stop, sizes.fleet_seconds + 60), daemon=True)
                   for d in devices]
    for thread in replicating:
        thread.start()
    time.sleep(1.0)
    pushed0 = admin.metric("sgw_replication_push_doc_push_count", database=db)
    pulled0 = admin.metric("sgw_replication_pull_rev_send_count", database=db)

    def work() -> int:
        writers = [threading.Thread(target=_write, args=(d, f"team-{i // 5}", stop), daemon=True)
                   for i, d in enumerate(devices)]
        for thread in writers:
            thread.start()
        time.sleep(sizes.fleet_seconds)
        moved = admin.metric("sgw_replication_push_doc_push_count", database=db) - pushed0 + \
            admin.metric("sgw_replication_pull_rev_send_count", database=db) - pulled0
        stop.set()
        for thread in writers:
            thread.join(30)
        return int(moved)

    sample = _Meter(gateway).measure("fleet", work)
    for thread in replicating:
        thread.join(30)
    # One measurement of a fleet whose work depends on timing: shown, not judged.
    return _summary(f"sustained fleet, {len(devices)} devices, {sizes.fleet_seconds:g} s", [sample], judged=False)


def _continuous(device: VirtualDevice, stop: threading.Event, timeout: float) -> None:
    try:
        device.sync(continuous=True, stop=stop, timeout=timeout)
    except Exception:  # a device that drops out shows as fewer documents moved
        return


def _write(device: VirtualDevice, channel: str, stop: threading.Event) -> None:
    user = device.credentials.username
    k = 0
    while not stop.wait(0.25):
        device.store.put(f"{user}.{k}", {"owner": user, "channels": [channel], "text": _BODY})
        device.local_changed()
        k += 1


def _storm(admin: AdminClient, db: str, url: str, count: int) -> dict[str, Any]:
    """`count` devices synced once, then all woken at once to pull one new document."""
    admin.put_user(db, "storm", password="storm-pw", admin_channels=["storm"])
    devices = [VirtualDevice(url, Credentials("storm", "storm-pw")) for _ in range(count)]
    _parallel(devices, lambda d: d.sync(push=False, timeout=120).docs_pulled)
    admin.put_document(db, "storm-news", {"channels": ["storm"], "text": _BODY})
    admin.wait_for_changes_feed(db)
    started = time.monotonic()
    done: list[float] = []
    lock = threading.Lock()

    def wake(d: VirtualDevice) -> int:
        pulled = d.sync(push=False, timeout=120).docs_pulled
        with lock:
            done.append(time.monotonic() - started)
        return pulled

    _parallel(devices, wake)
    caught = sum(1 for d in devices if d.store.get("storm-news") is not None)
    return {"devices": count, "caught_up": caught,
            "time_to_caught_up_s": {f"p{q}": round(percentile(done, q) or 0.0, 3) for q in (50, 90, 99)}}
