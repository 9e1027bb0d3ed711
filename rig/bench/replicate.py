"""`rig bench replicate`: one device and ten devices pulling and pushing ~1 KB documents.

Reports documents per second and CPU-seconds per 1,000 documents for the rig
(this process, all its threads) and for Sync Gateway (its process), measured
over the same interval, so their ratio holds on a noisy shared machine. Every
scenario runs once per Couchbase Lite release asked for (3.3: rev trees over
CBMobile_3; 4.1: version vectors over CBMobile_4), so the gateway's cost per
document shows on each of its paths side by side.
"""

from __future__ import annotations

import json
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig.bench.cpu import Sample, sample
from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, DatabaseSpec, LocalGateway
from rig.gateway.build import binary_version
from rig.replicator.clients import client_release

_BODY = "lorem ipsum dolor sit amet " * 36  # ~1 KB documents with the fields below


def _doc(i: int, owner: str) -> dict[str, Any]:
    return {"type": "profile", "owner": owner, "channels": [owner], "n": i, "text": _BODY}


def _measure(name: str, gateway_pid: int, docs: int, work: Callable[[], int], cbl: str) -> dict[str, Any]:
    before = sample(gateway_pid)
    moved = work()
    after = sample(gateway_pid)
    return {"cbl": cbl, **_result(name, docs, moved, before, after)}


def _result(name: str, docs: int, moved: int, before: Sample, after: Sample) -> dict[str, Any]:
    wall = after.wall - before.wall
    rig_cpu = after.rig_cpu - before.rig_cpu
    gw_cpu = after.gateway_cpu - before.gateway_cpu
    per_k = 1000 / max(moved, 1)
    return {
        "scenario": name, "documents": docs, "documents_moved": moved, "wall_s": round(wall, 3),
        "docs_per_s": round(moved / wall, 1) if wall else None,
        "rig_cpu_s_per_1000_docs": round(rig_cpu * per_k, 4),
        "gateway_cpu_s_per_1000_docs": round(gw_cpu * per_k, 4),
        "rig_to_gateway_cpu_ratio": round(rig_cpu / gw_cpu, 3) if gw_cpu else None,
    }


def _parallel(devices: list[VirtualDevice], action: Callable[[VirtualDevice], int]) -> int:
    totals: list[int] = []
    errors: list[BaseException] = []

    def run(device: VirtualDevice) -> None:
        try:
            totals.append(action(device))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in devices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(totals)


def _scenarios(cbl: str, url: str, users: list[str], pid: int, docs: int, parallel: int,
               results: list[dict[str, Any]], progress: Callable[[str], None]) -> None:
    """The four scenarios with devices of one release (pushed documents are new for each release)."""
    tag = cbl.replace(".", "")

    def device(user: str, channel: str = "shared") -> VirtualDevice:
        return VirtualDevice(url, Credentials(user, f"{user}-pw"), channels=(channel,), cbl=cbl)

    def pull(d: VirtualDevice) -> int:
        return d.sync(push=False, timeout=600).docs_pulled

    def push(d: VirtualDevice) -> int:
        return d.sync(pull=False, timeout=600).docs_pushed

    one = device(users[0])
    results.append(_measure("pull, 1 device", pid, docs, lambda: pull(one), cbl))
    progress(json.dumps(results[-1]))
    writer = device(users[0], users[0])
    for i in range(docs):
        writer.store.put(f"c{tag}-w0-{i}", _doc(i, users[0]))
    results.append(_measure("push, 1 device", pid, docs, lambda: push(writer), cbl))
    progress(json.dumps(results[-1]))

    many = [device(u) for u in users]
    results.append(_measure(f"pull, {parallel} devices in parallel", pid, docs * parallel,
                            lambda: _parallel(many, pull), cbl))
    progress(json.dumps(results[-1]))
    per_device = docs // parallel
    writers = []
    for n, user in enumerate(users):
        w = device(user, user)
        for i in range(per_device):
            w.store.put(f"c{tag}-w{n}-p-{i}", _doc(i, user))
        writers.append(w)
    results.append(_measure(f"push, {parallel} devices in parallel", pid, per_device * parallel,
                            lambda: _parallel(writers, push), cbl))
    progress(json.dumps(results[-1]))


def run(binary: Path, run_dir: Path, *, docs: int = 10_000, parallel: int = 10,
        releases: tuple[str, ...] = ("3.3", "4.1"), progress: Callable[[str], None] = print) -> dict[str, Any]:
    releases = tuple(client_release(name, where="releases").name for name in releases)
    results: list[dict[str, Any]] = []
    with LocalGateway(binary, run_dir / "gateway", databases=[DatabaseSpec("bench")],
                      log_level="warn") as gateway:
        pid = gateway.pid
        assert pid is not None
        admin = AdminClient(gateway.admin_url, gateway.metrics_url)
        url = f"{gateway.public_url}/bench"
        users = [f"bench-{i}" for i in range(parallel)]
        for user in users:
            admin.put_user("bench", user, password=f"{user}-pw", admin_channels=[user, "shared"])
        seed = [{"_id": f"seed-{i}", **_doc(i, "shared"), "channels": ["shared"]} for i in range(docs)]
        for start in range(0, docs, 500):
            admin.bulk_docs("bench", seed[start:start + 500])
        progress(f"seeded {docs} documents; Sync Gateway pid {pid}")

        for cbl in releases:
            _scenarios(cbl, url, users, pid, docs, parallel, results, progress)
        version = binary_version(binary)
    return {"benchmark": "replicate", "releases": list(releases),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "gateway": version,
            "storage": "rosmar in memory", "machine": _machine(), "results": results}


def _machine() -> dict[str, Any]:
    import os

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
