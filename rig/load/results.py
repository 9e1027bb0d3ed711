"""Merging the processes' results into one summary, CSV files, and threshold checks."""

from __future__ import annotations

import csv
import json
import operator
import platform
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig._errors import ConfigError
from rig.device.measure import Arrival, Measurements, WakeMeasurement, percentile
from rig.load.links import merge_links

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq, "!=": operator.ne}
_THRESHOLD = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+)\s*$")


def merge(run_dir: Path, time_scale: float) -> tuple[Measurements, dict[str, Any]]:
    measurements = Measurements(time_scale)
    totals: dict[str, Any] = {"devices": 0, "device_errors": 0, "final_sync_failures": [], "verify_problems": [],
                              "push": {}, "workers": 0, "device_names": [], "protocol_errors": {},
                              "device_errors_by_kind": {}, "device_error_samples": {}, "rig": []}
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
        totals["rig"].append(data.get("rig"))  # each process's saturation (rig.metrics.saturation)
        for key, value in data["push"].items():
            totals["push"][key] = totals["push"].get(key, 0) + value
        for wake in data["measurements"]["wakes"]:
            measurements.wakes.append(WakeMeasurement(**wake))
        for arrival in data["measurements"]["arrivals"]:
            measurements.arrivals.append(Arrival(**arrival))
    totals["links"] = merge_links(links)
    return measurements, totals


def flat_metrics(measurements: Measurements, totals: dict[str, Any], gateway_delta: dict[str, float],
                 duration_s: float) -> dict[str, float]:
    """The figures thresholds may name (all real seconds, unscaled)."""
    latencies = [a.write_to_arrival_s for a in measurements.arrivals]
    syncs = [w.wake_to_caught_up_s for w in measurements.wakes if w.wake_to_caught_up_s is not None]
    metrics: dict[str, float] = {
        "devices": float(totals["devices"]),
        "push_docs_per_s": gateway_delta.get("sgw_replication_push_doc_push_count", 0.0) / duration_s,
        "pull_docs_per_s": gateway_delta.get("sgw_replication_pull_rev_send_count", 0.0) / duration_s,
        "wakes": float(len(measurements.wakes)),
        "budget_kills": float(sum(w.overrun for w in measurements.wakes)),
        "errors": float(totals["device_errors"]),
        "final_sync_failures": float(len(totals["final_sync_failures"])),
        "leaks": float(sum(p.startswith("leak") for p in totals["verify_problems"])),
        "misses": float(sum(p.startswith("miss") for p in totals["verify_problems"])),
        "stale": float(sum(p.startswith("stale") for p in totals["verify_problems"])),
        "protocol_errors": float(sum((totals.get("protocol_errors") or {}).values())),
    }
    links = totals.get("links")
    if links:
        metrics["link_cuts"] = float(links["total"]["cuts"])
    for q in (50, 95, 99):
        for name, values in (("write_to_arrival_s", latencies), ("wake_to_caught_up_s", syncs)):
            value = percentile(values, q)
            if value is not None:
                metrics[f"p{q}_{name}"] = value
    return metrics


def check_thresholds(expressions: list[str], metrics: dict[str, float]) -> list[str]:
    """Failed thresholds, as sentences; a malformed or unknown one is a ConfigError."""
    failed = []
    for expression in expressions:
        match = _THRESHOLD.match(expression)
        if match is None:
            raise ConfigError(f"--fail-if {expression!r}: expected NAME OP NUMBER, e.g. 'p95_write_to_arrival_s>2'")
        name, op, number = match.group(1), match.group(2), float(match.group(3))
        if name not in metrics:
            raise ConfigError(f"--fail-if {expression!r}: unknown figure {name!r}; known: {', '.join(sorted(metrics))}")
        if _OPS[op](metrics[name], number):
            failed.append(f"{name} = {metrics[name]:.4g} {op} {number:g}")
    return failed


def write_csv(run_dir: Path, measurements: Measurements) -> None:
    records = measurements.as_records()
    for kind in ("wakes", "arrivals"):
        rows = records[kind]
        with (run_dir / f"{kind}.csv").open("w", newline="") as handle:
            if rows:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)


def machine() -> dict[str, Any]:
    import os

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


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
