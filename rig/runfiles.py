"""A run directory read back: every load process's `worker-N.json` merged into one set of
measurements and totals, and the devices' counts checked against the gateway's counters.

Below both the load engine that writes these files (`rig.load`) and the reports that read
them (`rig.report`), so that neither imports the other.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rig.device.measure import Arrival, Measurements, WakeMeasurement, release_order


def merge(run_dir: Path, time_scale: float) -> tuple[Measurements, dict[str, Any]]:
    measurements = Measurements(time_scale)
    totals: dict[str, Any] = {"devices": 0, "device_errors": 0, "final_sync_failures": [], "verify_problems": [],
                              "push": {}, "workers": 0, "device_names": [], "protocol_errors": {},
                              "device_errors_by_kind": {}, "device_error_samples": {}, "rig": [],
                              "by_release": {}}
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
        for cbl, row in (data.get("by_release") or {}).items():
            into = totals["by_release"].setdefault(cbl, {})
            for key, value in row.items():
                into[key] = into.get(key, 0) + value
        for wake in data["measurements"]["wakes"]:
            measurements.wakes.append(WakeMeasurement(**wake))
        for arrival in data["measurements"]["arrivals"]:
            measurements.arrivals.append(Arrival(**arrival))
    totals["links"] = merge_links(links)
    return measurements, totals


def release_summary(measured: dict[str, Any], counted: dict[str, Any]) -> dict[str, Any]:
    """One row per Couchbase Lite release: devices and load-phase documents (`counted`, from the
    processes' rig_documents_total) with wakes and latencies (`measured`, Measurements.summary's
    `by_release`)."""
    rows: dict[str, Any] = {}
    for cbl in release_order([*counted, *measured]):
        devices = counted.get(cbl, {})
        rows[cbl] = {"devices": int(devices.get("devices", 0)), "docs_pulled": int(devices.get("docs_pulled", 0)),
                     "docs_pushed": int(devices.get("docs_pushed", 0)), **measured.get(cbl, {
                         "wakes": 0, "overruns": 0, "wake_to_caught_up_s_real": {}, "arrivals": 0,
                         "write_to_arrival_s_real": {}})}
    return rows


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


def increase(values: Sequence[float]) -> float:
    """How much a counter grew over its samples, across restarts, as Prometheus's `increase()`:
    a counter only grows, so a drop means the process restarted from zero and the value after
    the drop is all new. (Counts made after the last sample before a restart are lost.)"""
    total = 0.0
    for previous, current in itertools.pairwise(values):
        total += current - previous if current >= previous else current
    return total


def sampled(run_dir: Path, key: str, since: float | None = None) -> list[float] | None:
    """The values of `key` sampled by the process that sampled it (the first process for the
    gateway's counters), at or after `since`; None when no process sampled it."""
    for path in sorted(run_dir.glob("worker-*.json")):
        samples = json.loads(path.read_text()).get("samples") or []
        values = [float(s[key]) for s in samples if key in s and (since is None or s["t"] >= since)]
        if values:
            return values
    return None


def gateway_increase(run_dir: Path, before: dict[str, float], after: dict[str, float],
                     sampled_as: dict[str, str], since: float) -> dict[str, float]:
    """Each gateway counter's growth from `before` (read as the devices started, at `since`) to
    `after` (read after the final sync), through the values sampled in between: a gateway killed
    or restarted mid-run starts its counters from zero, and a plain `after - before` would be
    wrong (negative, or far too small). `sampled_as` maps a counter to its key in the samples."""
    keys = {metric: key for key, metric in sampled_as.items()}
    grown = {}
    for metric in after:
        between = sampled(run_dir, keys[metric], since) if metric in keys else None
        grown[metric] = increase([before[metric], *(between or []), after[metric]])
    return grown


def restart_windows(samples: Sequence[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    """Where the sampled gateway counter `key` restarted from zero: from the last sample that had a
    value before the restart to the last sample that had none (the gateway not answering) after it.
    What the gateway counted in such a window died with it, so the cross-check leaves it out."""
    windows = []
    last: tuple[float, float] | None = None
    silent_until: float | None = None
    for sample in samples:
        if key not in sample:
            if last is not None:
                silent_until = float(sample["t"])
            continue
        value = float(sample[key])
        if last is not None and value < last[1]:
            windows.append((last[0], silent_until if silent_until is not None else last[0]))
        last, silent_until = (float(sample["t"]), value), None
    return windows


def _value_at(samples: Sequence[dict[str, Any]], key: str, when: float) -> float:
    """The last value of `key` sampled at or before `when` (0 before the first)."""
    before = [float(s.get(key, 0.0)) for s in samples if s["t"] <= when]
    return before[-1] if before else 0.0


def unobserved(rig: Sequence[Sequence[dict[str, Any]]], rig_key: str, gateway: Sequence[dict[str, Any]],
               gw_key: str) -> float:
    """What the devices counted that a killed gateway had counted too but took with it.

    For each life of the gateway that ended in a restart (`restart_windows`): the devices' growth
    over that life (to when the gateway answered again: nothing else was sending) less the
    gateway's growth to its last sample; at most the devices' growth after that last sample,
    the only documents the gateway could have sent uncounted. Devices counting more than that
    still show as a difference, and so does counting less."""
    total = 0.0
    life_start = float(gateway[0]["t"]) if gateway else 0.0
    for last_counted, answered_again in restart_windows(gateway, gw_key):
        counted = increase([float(s[gw_key]) for s in gateway if gw_key in s and life_start <= s["t"] <= last_counted])
        arrived = sum(_value_at(samples, rig_key, answered_again) - _value_at(samples, rig_key, life_start)
                      for samples in rig)
        after_last = sum(_value_at(samples, rig_key, answered_again) - _value_at(samples, rig_key, last_counted)
                         for samples in rig)
        total += min(max(0.0, arrived - counted), after_last)
        life_start = answered_again
    return total


def throughput_agreement(run_dir: Path) -> dict[str, Any]:
    """Documents the devices counted against what Sync Gateway counted, over the sampled load phase.

    Each process samples its devices' counts from before its first device starts until after
    its last one stops; the first process also samples the gateway's counters, whose growth is
    taken across restarts (`increase`). A killed gateway loses what it counted since its last
    sample (the rig samples just before a fault): the devices' share of that (`unobserved`) is
    left out of the comparison and reported as `rig_*_unobserved`. A revision
    the gateway sent to a device the OS killed before it arrived counts on the gateway's side only.
    A pushed revision whose reply a fault took (the gateway stored and counted it; the device
    learnt so only from a later 304, `rig_pushed_reply_lost`) may explain as much of the
    gateway's excess on the push side.
    """
    per_worker = [json.loads(path.read_text()).get("samples") or [] for path in sorted(run_dir.glob("worker-*.json"))]
    per_worker = [samples for samples in per_worker if len(samples) >= 2]
    result: dict[str, Any] = {}
    for side, rig_key, gw_key, name in (("pull", "pulled", "gateway_pulled", "gateway_revs_sent"),
                                        ("push", "pushed", "gateway_pushed", "gateway_docs_pushed")):
        sampled_by = next((samples for samples in per_worker if any(gw_key in s for s in samples)), None)
        everything = sum(increase([float(s.get(rig_key, 0.0)) for s in samples]) for samples in per_worker)
        lost = unobserved(per_worker, rig_key, sampled_by, gw_key) if sampled_by else 0.0
        observed = everything - lost
        values = [float(s[gw_key]) for s in sampled_by or [] if gw_key in s]
        counted = increase(values) if len(values) >= 2 else None
        result[f"rig_{rig_key}"] = observed
        result[f"rig_{rig_key}_unobserved"] = lost
        result[name] = counted
        compared = observed
        if side == "pull":
            result["gateway_restarts"] = len(restart_windows(sampled_by, gw_key)) if sampled_by else 0
        else:
            # Revisions the gateway may have stored and counted without the devices knowing: those
            # whose reply a fault took (the device learnt it later from a 304), and those still
            # awaiting their reply at the last sample (sent before a device stopped, or in flight).
            # The gateway's count may exceed the devices' by at most these.
            reply_lost = sum(increase([float(s.get("pushed_reply_lost", 0.0)) for s in samples])
                             for samples in per_worker)
            awaiting = sum(float(samples[-1].get("pushed_awaiting_reply", 0.0)) for samples in per_worker)
            result["rig_pushed_reply_lost"] = reply_lost
            result["rig_pushed_awaiting_reply"] = awaiting
            if counted is not None and counted > observed:
                compared = observed + min(counted - observed, reply_lost + awaiting)
        result[f"{side}_difference_pct"] = (None if not counted else round(100.0 * (compared - counted) / counted, 2))
    return result
