"""CPU per document in `rig run`: the rig's load processes against the gateway, over the load phase.

Issue 17 asks that the rig never be the bottleneck; the fair yardstick is the gateway's own cost
for the same work. Over the load phase (from the first process's first gateway sample after its
first device started to its last sample before the final sync):

- the rig's CPU seconds: every load process's saturation monitor (master and workers) ticks once a
  second with its CPU ratio and the tick's length (`rig.metrics.saturation`, `series`); the ticks
  ending inside the window are summed;
- the gateway's CPU seconds, sampled by the first process beside the gateway's counters: from
  `/proc/<pid>/stat` of a gateway the rig started (`LocalGateway`), else Sync Gateway's own
  `process_cpu_seconds_total` on its metrics endpoint; neither: not measured;
- documents: the gateway's pushed plus sent revisions (`GATEWAY_COUNTERS`) grown over the window.

Each is taken across gateway restarts like the other counters (`rig.runfiles.increase`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rig.runfiles import increase

PROC_KEY = "gateway_cpu_proc_s"
"""Sample key: the gateway process's user + system CPU seconds from /proc (a gateway the rig runs)."""
METRIC_KEY = "gateway_cpu_metric_s"
"""Sample key: the gateway's `process_cpu_seconds_total` from its own metrics endpoint."""
CPU_METRIC = "process_cpu_seconds_total"
DOCUMENT_KEYS = ("gateway_pushed", "gateway_pulled")
SOURCES = {PROC_KEY: "/proc/<pid>/stat of the gateway process", METRIC_KEY: "gateway metric process_cpu_seconds_total"}


def proc_start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks after boot), or None: with the pid it names one process
    (a pid reused, or one on another machine, has another start time)."""
    fields = _stat(pid)
    return None if fields is None else int(fields[19])


def proc_cpu_seconds(pid: int, start_ticks: int) -> float | None:
    """User + system CPU seconds of process `pid` if it is still the one that started at `start_ticks`."""
    fields = _stat(pid)
    if fields is None or int(fields[19]) != start_ticks:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            # After the command name (in parentheses, which may hold spaces): state is field 0 here.
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def rig_cpu_seconds(series: Sequence[Sequence[Any]], start: float, end: float) -> float:
    """CPU seconds of one process over its monitor's ticks that ended in (start, end]."""
    return sum(float(row[1]) * float(row[4]) for row in series if len(row) >= 5 and start < float(row[0]) <= end)


def _load_phase(samples: Sequence[dict[str, Any]], processes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first process's samples that carry the gateway's counters, inside the load phase: from
    the last one at or before the earliest tick's start to the last one at or before the last tick
    (the monitors run from a process's first device to its final sync)."""
    ticks = [row for p in processes for row in p.get("series") or [] if len(row) >= 5]
    counted = [s for s in samples if all(key in s for key in DOCUMENT_KEYS)]
    if not ticks or len(counted) < 2:
        return []
    first = min(float(row[0]) - float(row[4]) for row in ticks)
    last = max(float(row[0]) for row in ticks)
    before = [s for s in counted if s["t"] <= first]
    return before[-1:] + [s for s in counted if first < s["t"] <= last]


def cpu_per_document(samples: Sequence[dict[str, Any]], processes: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """The run's `cpu_per_document` section from the first process's samples and every process's
    saturation summary (with its `series`); ms of CPU per document moved, rig over gateway."""
    parts = [p for p in processes if p]
    window = _load_phase(samples, parts)
    result: dict[str, Any] = {"rig_ms": None, "gateway_ms": None, "ratio": None, "documents": None,
                              "rig_cpu_s": None, "gateway_cpu_s": None, "window_s": None,
                              "processes": len(parts), "source": "not measured"}
    if len(window) < 2:
        result["source"] = "not measured (no load-phase samples of the gateway's counters)"
        return result
    start, end = float(window[0]["t"]), float(window[-1]["t"])
    documents = sum(increase([float(s[key]) for s in window]) for key in DOCUMENT_KEYS)
    rig = sum(rig_cpu_seconds(p.get("series") or [], start, end) for p in parts)
    result.update(documents=documents, rig_cpu_s=round(rig, 3), window_s=round(end - start, 2))
    if documents > 0:
        result["rig_ms"] = round(rig / documents * 1000, 4)
    for key in (PROC_KEY, METRIC_KEY):  # /proc when it covered the whole window, else the gateway's metric
        if all(key in s for s in window):
            gateway = increase([float(s[key]) for s in window])
            result.update(gateway_cpu_s=round(gateway, 3), source=SOURCES[key])
            if documents > 0:
                result["gateway_ms"] = round(gateway / documents * 1000, 4)
            if gateway > 0:
                result["ratio"] = round(rig / gateway, 4)
            break
    else:
        result["source"] = "gateway CPU not measured (no gateway pid and no process_cpu_seconds_total)"
    return result


def from_run(run_dir: Path, processes: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """`cpu_per_document` of a run directory: the samples of the process that sampled the gateway."""
    for path in sorted(run_dir.glob("worker-*.json")):
        samples = json.loads(path.read_text()).get("samples") or []
        if any(all(key in s for key in DOCUMENT_KEYS) for s in samples):
            return cpu_per_document(samples, processes)
    return cpu_per_document([], processes)


def figures(cost: dict[str, Any]) -> dict[str, float]:
    """For --fail-if: only the figures that were measured (a threshold on one that was not fails as unknown)."""
    named = {"rig_cpu_ms_per_doc": cost.get("rig_ms"), "gateway_cpu_ms_per_doc": cost.get("gateway_ms"),
             "rig_vs_gateway_cpu_ratio": cost.get("ratio")}
    return {name: float(value) for name, value in named.items() if value is not None}


def summary_text(cost: dict[str, Any]) -> str:
    """One line of the printed summary."""
    if cost.get("rig_ms") is None:
        return f"CPU per document: {cost.get('source')}"
    rig = f"rig {cost['rig_ms']:.3f} ms ({cost['rig_cpu_s']:.2f} CPU-s over {cost['processes']} process(es))"
    if cost.get("gateway_ms") is None:
        gateway = str(cost.get("source"))
    else:
        ratio = "-" if cost.get("ratio") is None else f"{cost['ratio']:.2f}"
        gateway = f"gateway {cost['gateway_ms']:.3f} ms ({cost['gateway_cpu_s']:.2f} CPU-s, {cost['source']}); " \
                  f"rig/gateway {ratio}"
    return (f"CPU per document over the load phase ({cost['documents']:.0f} docs moved in {cost['window_s']:.0f} s): "
            f"{rig}, {gateway}")


FIGURES = ("rig_cpu_ms_per_doc", "gateway_cpu_ms_per_doc", "rig_vs_gateway_cpu_ratio")


def unmeasured(thresholds: Sequence[str], cost: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(thresholds to check, failures): a threshold on a CPU figure this run could not measure
    fails, saying so, rather than passing unjudged or stopping the finished run as a typo."""
    measured = figures(cost)
    kept, failed = [], []
    for expression in thresholds:
        name = next((n for n in FIGURES if expression.strip().startswith(n)
                     and expression.strip()[len(n):len(n) + 1] in "<>=!"), None)
        if name is not None and name not in measured:
            failed.append(f"{name} not measured ({cost.get('source')}): {expression!r} cannot pass")
        else:
            kept.append(expression)
    return kept, failed
