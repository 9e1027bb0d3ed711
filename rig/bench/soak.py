"""`rig bench soak`: a long steady run below saturation; memory must stay flat and nothing may be lost.

N devices (default 140: 70 % of the ~200 at which `rig bench fleet` found this machine
saturated) replicate continuously while each user keeps rewriting a bounded set of its
documents, so the data stay the same size and any growth of the rig's memory is the
rig's own. Every `sample_s` the rig's and the gateway's resident memory and the
documents moved are sampled; the result gives memory growth per hour by a least-squares
fit over the second half (after warm-up), and at the end every device's store is
compared with the gateway: every live document its user may read, at the gateway's
revision (lost, stale and leaked documents counted).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig.bench.fleet import _TEXT, _devices, _live_counts, _replicate, _rss_bytes
from rig.bench.observe import SaturationWatch, gateway_counts, replication_shape
from rig.device import VirtualDevice
from rig.gateway import AdminClient, DatabaseSpec, LocalGateway
from rig.gateway.build import binary_version
from rig.load.results import machine

DOCS_PER_USER = 20


def _rewrite(device: VirtualDevice, channel: str, stop: threading.Event, writes_per_s: float) -> None:
    user = device.credentials.username
    k = 0
    while not stop.wait(1.0 / writes_per_s):
        device.store.put(f"{user}.{k % DOCS_PER_USER}", {"owner": user, "channels": [channel], "text": _TEXT,
                                                         "written_at": time.time(), "k": k})
        device.local_changed()
        k += 1


def _process_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def growth_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, bytes), as bytes per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 3600


def check_devices(admin: AdminClient, db: str, devices: list[VirtualDevice]) -> dict[str, Any]:
    rows = admin.all_docs(db)
    docs = {r["id"]: (r["value"]["rev"], set(r["value"].get("channels") or [])) for r in rows}
    channels: dict[str, set[str]] = {}
    lost = stale = leaked = 0
    examples: list[str] = []
    for device in devices:
        user = device.credentials.username
        readable = channels.setdefault(user, set(admin.user(db, user)["all_channels"]))
        expected = {d: rev for d, (rev, chans) in docs.items() if readable & chans}
        held = {d.doc_id: d.rev for d in device.store.docs.values() if not d.deleted}
        lost += len(set(expected) - set(held))
        leaked += len(set(held) - set(expected))
        for doc_id in sorted(set(held) & set(expected)):
            if held[doc_id] != expected[doc_id]:
                stale += 1
                doc = device.store.docs[doc_id]
                if len(examples) < 20:  # enough to tell a replicator bug from a check that ended too soon
                    examples.append(f"stale {doc_id} on {device.name}: holds {doc.rev} (server's as it knows "
                                    f"{doc.remote_rev}, stalled {doc.stalled_rev}, history {list(doc.history[:3])}), "
                                    f"gateway {expected[doc_id]}")
    return {"documents_on_gateway": len(docs), "lost": lost, "stale": stale, "leaked": leaked,
            "examples": examples}


def wait_until_quiet(admin: AdminClient, db: str, *, settle_s: float = 2.0, limit_s: float = 60.0) -> None:
    """Wait until the gateway stores nothing more, then until its changes feed has it all.

    A continuous replication stops with `rev` messages in flight, and the gateway, behind on a
    loaded machine, may store them after the session has closed. A final push-and-pull that starts
    meanwhile (the fleet's first device) gets its own revision accepted as a proposal, then refused
    with a 409 when the late write lands, while its pull has already caught up without that write:
    the round ends with the revision stalled, the pull-only round resolves the conflict in the
    device's favour, and the new revision is left unpushed, which the check counted as stale.
    """
    deadline = time.monotonic() + limit_s
    last = admin.database(db).get("update_seq")
    while time.monotonic() < deadline:
        time.sleep(settle_s)
        now = admin.database(db).get("update_seq")
        if now == last:
            break
        last = now
    admin.wait_for_changes_feed(db)


def run(binary: Path, run_dir: Path, *, devices: int, minutes: float, writes_per_s: float, sample_s: float,
        progress: Callable[[str], None] = print) -> dict[str, Any]:
    seconds = minutes * 60
    with LocalGateway(binary, run_dir / "gateway", databases=[DatabaseSpec("boot")], log_level="warn") as gateway:
        admin = AdminClient(gateway.admin_url, gateway.metrics_url)
        pid = gateway.pid
        assert pid is not None
        db = "soak"
        admin.create_database_from_spec(DatabaseSpec(db))
        fleet = _devices(gateway, admin, db, devices, per_user=2, team_size=5, prefix="k")
        stop = threading.Event()
        errors: list[str] = []
        threads = [threading.Thread(target=_replicate, args=(d, stop, seconds + 120, errors), daemon=True)
                   for d in fleet]
        threads += [threading.Thread(target=_rewrite, args=(d, f"k-team-{i // 10}", stop, writes_per_s),
                                     daemon=True) for i, d in enumerate(fleet)]
        for thread in threads:
            thread.start()
        counters, watch = gateway_counts(admin, db), SaturationWatch().start()
        started = time.monotonic()
        samples: list[dict[str, Any]] = []
        while (elapsed := time.monotonic() - started) < seconds:
            moved = (admin.metric("sgw_replication_push_doc_push_count", database=db)
                     + admin.metric("sgw_replication_pull_rev_send_count", database=db))
            samples.append({"t_s": round(elapsed, 1), "rig_rss_bytes": _rss_bytes(),
                            "gateway_rss_bytes": _process_rss(pid), "docs_moved": moved, "errors": len(errors)})
            progress(f"soak {elapsed / 60:5.1f}/{minutes:g} min: rig {samples[-1]['rig_rss_bytes'] >> 20} MiB, "
                     f"gateway {samples[-1]['gateway_rss_bytes'] >> 20} MiB, {moved:.0f} docs moved, "
                     f"{len(errors)} errors")
            time.sleep(min(sample_s, max(0.0, seconds - elapsed)))
        verdict = watch.verdict()
        shape = replication_shape(counters, gateway_counts(admin, db), _live_counts(fleet))
        stop.set()
        for thread in threads:
            thread.join(60)
        progress("final pull on every device ...")
        wait_until_quiet(admin, db)
        for device in fleet:
            device.sync(push=True, pull=True, timeout=120)
        admin.wait_for_changes_feed(db)
        for device in fleet:
            device.sync(push=False, pull=True, timeout=120)
        check = check_devices(admin, db, fleet)
        tail = [s for s in samples if s["t_s"] >= seconds / 2]
        moved = samples[-1]["docs_moved"] - samples[0]["docs_moved"] if samples else 0
        return {
            "benchmark": "soak", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "gateway": binary_version(binary), "storage": "rosmar in memory", "machine": machine(),
            "devices": devices, "minutes": minutes, "writes_per_s_per_device": writes_per_s,
            "docs_moved_per_s": round(moved / max(1.0, samples[-1]["t_s"] - samples[0]["t_s"]), 1) if samples else 0,
            "rig_rss_growth_mib_per_hour_second_half": round(
                growth_per_hour([(s["t_s"], s["rig_rss_bytes"]) for s in tail]) / 2**20, 2),
            "gateway_rss_growth_mib_per_hour_second_half": round(
                growth_per_hour([(s["t_s"], s["gateway_rss_bytes"]) for s in tail]) / 2**20, 2),
            "replication_errors": len(errors), "error_examples": errors[:10], "final_check": check,
            **verdict, "replication": shape,
            "samples": samples,
        }
