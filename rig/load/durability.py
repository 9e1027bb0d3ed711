"""After a run: did every acknowledged write survive (exactly once), and what did the outages cost?"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rig._collections import keyspace, split
from rig._errors import AdminApiError
from rig.device.measure import Measurements, percentile
from rig.faults.gateway import Outage
from rig.gateway import AdminClient
from rig.gateway.vectors import raw_vector, stored_vector
from rig.oracle.acknowledged import AckedWrite, DurabilityReport, RevTree, check_acknowledged

AFTERMATH_S = 15.0
"""Wakes that start this long after the gateway is back still pay for the outage (backoff, catch-up)."""


def acknowledged_writes(run_dir: Path) -> tuple[list[AckedWrite], int]:
    """Every acknowledged write and the number of retries, from the processes' results files."""
    writes: list[AckedWrite] = []
    retries = 0
    for path in sorted(run_dir.glob("worker-*.json")):
        data = json.loads(path.read_text())
        writes += [AckedWrite(device, doc_id, rev) for device, doc_id, rev in data.get("acknowledged", [])]
        retries += int(data.get("retries", 0))
    return writes, retries


RetryRow = tuple[str, float, int, float, str]
"""(device, wall time of the failure, attempt since the last connect, wait in s, LiteCore's error)."""
_DEVICES_LISTED = 100


def retry_rows(run_dir: Path) -> list[RetryRow]:
    """Every retry the devices scheduled, from the processes' results files."""
    rows: list[RetryRow] = []
    for path in sorted(run_dir.glob("worker-*.json")):
        for device, at, attempt, delay, error in json.loads(path.read_text()).get("retry_delays", []):
            rows.append((str(device), float(at), int(attempt), float(delay), str(error)))
    return rows


def reconnect_delays(rows: Sequence[RetryRow]) -> dict[str, Any]:
    """The retries' waits: percentiles, the count by attempt number, each device's waits in order."""
    delays = [row[3] for row in rows]
    by_device: dict[str, list[float]] = {}
    for device, _at, _attempt, delay, _error in sorted(rows, key=lambda r: r[1]):
        if device in by_device or len(by_device) < _DEVICES_LISTED:
            by_device.setdefault(device, []).append(delay)
    attempts = Counter(row[2] for row in rows)
    return {"retries": len(rows), "delay_s": {"p50": percentile(delays, 50), "p95": percentile(delays, 95),
                                              "max": max(delays) if delays else None},
            "by_attempt": {str(n): attempts[n] for n in sorted(attempts)},
            "errors": dict(Counter(row[4] for row in rows).most_common()),
            "devices": by_device}


def gateway_trees(admin: AdminClient, db: str, doc_ids: set[str]) -> dict[str, RevTree | None]:
    """Each document's revision tree on the gateway (a named collection's document as `scope.name/ID`)."""
    trees: dict[str, RevTree | None] = {}
    for doc_id in sorted(doc_ids):
        collection, bare = split(doc_id)
        try:
            raw = admin.raw(keyspace(db, collection), bare)
        except AdminApiError as exc:
            if exc.status != 404:
                raise
            trees[doc_id] = None
            continue
        sync = raw.get("_sync") or raw.get("_xattrs", {}).get("_sync") or {}
        vv = raw_vector(raw)  # a 4.1 device's acknowledged version is looked for in the document's vector
        trees[doc_id] = RevTree.from_sync(sync, stored_vector(vv) if vv is not None else None)
    return trees


def check_run(run_dir: Path, admin: AdminClient, db: str) -> tuple[DurabilityReport, int]:
    writes, retries = acknowledged_writes(run_dir)
    report = check_acknowledged(writes, gateway_trees(admin, db, {w.doc_id for w in writes}))
    return report, retries


def outage_costs(outages: list[Outage], measurements: Measurements,
                 retries: Sequence[RetryRow] = ()) -> list[dict[str, Any]]:
    """Each outage with the wakes it touched (how many, how many failed, their retries and sync times)
    and the reconnect waits of the retries scheduled from its start until AFTERMATH_S after it."""
    rows = []
    for outage in outages:
        end = (outage.ended_at or outage.began_at) + AFTERMATH_S
        scheduled = [r for r in retries if outage.began_at - 1.0 <= r[1] <= end]
        touched = [w for w in measurements.wakes if outage.began_at - 5.0 <= w.started_wall <= end]
        done = [w.wake_to_caught_up_s for w in touched if w.wake_to_caught_up_s is not None]
        rows.append({**outage.as_dict(), "wakes_touched": len(touched),
                     "wakes_failed": sum(w.wake_to_caught_up_s is None for w in touched),
                     "retries": sum(w.retries for w in touched),
                     "wake_to_caught_up_s_real": {"p50": percentile(done, 50), "p95": percentile(done, 95),
                                                  "max": max(done) if done else None},
                     "reconnects": reconnect_delays(scheduled)})
    return rows
