"""A run directory read back: every load process's `worker-N.json` merged into one set of
measurements and totals, and the devices' counts checked against the gateway's counters.

Below both the load engine that writes these files (`rig.load`) and the reports that read
them (`rig.report`), so that neither imports the other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rig.device.measure import Arrival, Measurements, WakeMeasurement


def merge(run_dir: Path, time_scale: float) -> tuple[Measurements, dict[str, Any]]:
    measurements = Measurements(time_scale)
    totals: dict[str, Any] = {"devices": 0, "device_errors": 0, "final_sync_failures": [], "verify_problems": [],
                              "push": {}, "workers": 0, "device_names": [], "protocol_errors": {},
                              "device_errors_by_kind": {}, "device_error_samples": {}}
    links = []
    for path in sorted(run_dir.glob("worker-*.json")):
        data = json.loads(path.read_text())
        totals["workers"] += 1
        totals["devices"] += data["devices"]
        totals["device_errors"] += data["device_errors"]
        for kind, count in (data.get("device_errors_by_kind") or {}).items():
            totals["device_errors_by_kind"][kind] = totals["device_errors_by_kind"].get(kind, 0) + count
        for kind, messages in (data.get("device_error_samples") or {}).items():
            totals["device_error_samples"].setdefault(kind, []).extend(messages[:3])
        totals["final_sync_failures"] += data["final_sync_failures"]
        totals["verify_problems"] += data["verify_problems"]
        totals["device_names"] += data.get("device_names", [])
        totals["protocol_errors"].update(data.get("protocol_errors") or {})
        links.append(data.get("links"))
        for key, value in data["push"].items():
            totals["push"][key] = totals["push"].get(key, 0) + value
        for wake in data["measurements"]["wakes"]:
            measurements.wakes.append(WakeMeasurement(**wake))
        for arrival in data["measurements"]["arrivals"]:
            measurements.arrivals.append(Arrival(**arrival))
    totals["links"] = merge_links(links)
    return measurements, totals


def merge_links(parts: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The processes' link results as one: counters summed per link class, netdown windows listed."""
    present = [part for part in parts if part]
    if not present:
        return None
    classes: dict[str, dict[str, int]] = {}
    for part in present:
        for name, row in part["classes"].items():
            into = classes.setdefault(name, {})
            for key, value in row.items():
                into[key] = into.get(key, 0) + value
    total = {key: sum(row.get(key, 0) for row in classes.values())
             for key in ("devices", "connections", "bytes_up", "bytes_down", "cuts", "refused_down", "stalls",
                         "upstream_failures")}
    return {"shaped": present[0]["shaped"], "cut_plan": present[0]["cut_plan"],
            "classes": dict(sorted(classes.items())), "total": total,
            "netdown_seen": [window for part in present for window in part["netdown"]]}


def throughput_agreement(run_dir: Path) -> dict[str, Any]:
    """Documents the devices counted against what Sync Gateway counted, over the sampled load phase.

    Each process samples its devices' counts from before its first device starts until after
    its last one stops; the first process also samples the gateway's counters. A revision the
    gateway sent to a device the OS killed before it arrived counts on the gateway's side only.
    """
    rig = {"pulled": 0.0, "pushed": 0.0}
    gateway: dict[str, float] = {}
    for path in sorted(run_dir.glob("worker-*.json")):
        samples = json.loads(path.read_text()).get("samples") or []
        if len(samples) < 2:
            continue
        first, last = samples[0], samples[-1]
        for key in rig:
            rig[key] += float(last.get(key, 0.0)) - float(first.get(key, 0.0))
        for key in ("gateway_pulled", "gateway_pushed"):
            if key in first and key in last:
                gateway[key] = float(last[key]) - float(first[key])
    result: dict[str, Any] = {"rig_pulled": rig["pulled"], "rig_pushed": rig["pushed"],
                              "gateway_revs_sent": gateway.get("gateway_pulled"),
                              "gateway_docs_pushed": gateway.get("gateway_pushed")}
    for side, rig_key, gw_key in (("pull", "rig_pulled", "gateway_revs_sent"),
                                  ("push", "rig_pushed", "gateway_docs_pushed")):
        counted = result[gw_key]
        result[f"{side}_difference_pct"] = (None if not counted else
                                            round(100.0 * (result[rig_key] - counted) / counted, 2))
    return result
