"""The figures thresholds name, threshold checks, CSV files (merging the processes' files: `rig.runfiles`)."""

from __future__ import annotations

import csv
import operator
import platform
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig._errors import ConfigError
from rig.device.measure import Measurements, percentile

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq, "!=": operator.ne}
_THRESHOLD = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+)\s*$")


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


def release_lines(rows: dict[str, Any]) -> list[str]:
    """The summary's per-release table as text lines (empty without rows)."""
    if not rows:
        return []

    def s(value: float | None) -> str:
        return "  -  " if value is None else f"{value:5.2f}s"

    lines = ["  by client release   devices   wakes  caught up p50 / p95   write-to-arrival p50 / p95  "
             "docs pulled / pushed"]
    for cbl, row in rows.items():
        sync, lat = row.get("wake_to_caught_up_s_real") or {}, row.get("write_to_arrival_s_real") or {}
        lines.append(f"    cbl {cbl:14} {row['devices']:7} {row['wakes']:7}  {s(sync.get('p50'))} / "
                     f"{s(sync.get('p95'))}       {s(lat.get('p50'))} / {s(lat.get('p95'))}      "
                     f"{row['docs_pulled']:8} / {row['docs_pushed']}")
    return lines
