"""The first screen of a run report: the verdict (thresholds, correctness, the oracle), the key
figures with human names and units in groups, and the devices' errors split into recovered
(retried, as Couchbase Lite retries, expected under faults) and failed."""

from __future__ import annotations

from typing import Any

from rig.report import html

# name -> (group, what it is, unit); the order here is the order on the page.
FIGURES: dict[str, tuple[str, str, str]] = {
    "push_docs_per_s": ("throughput", "documents pushed to the gateway", "docs/s"),
    "pull_docs_per_s": ("throughput", "revisions the gateway sent to devices", "docs/s"),
    "pull_rig_vs_gateway_pct": ("throughput", "devices' pull count against the gateway's", "% apart"),
    "push_rig_vs_gateway_pct": ("throughput", "devices' push count against the gateway's", "% apart"),
    "wakes": ("throughput", "background wakes", "wakes"),
    "devices": ("throughput", "devices run", "devices"),
    "p50_write_to_arrival_s": ("latency", "write to arrival, median", "s"),
    "p95_write_to_arrival_s": ("latency", "write to arrival, 95th percentile", "s"),
    "p99_write_to_arrival_s": ("latency", "write to arrival, 99th percentile", "s"),
    "p50_wake_to_caught_up_s": ("latency", "wake to caught up, median", "s"),
    "p95_wake_to_caught_up_s": ("latency", "wake to caught up, 95th percentile", "s"),
    "p99_wake_to_caught_up_s": ("latency", "wake to caught up, 99th percentile", "s"),
    "leaks": ("correctness", "documents a device holds but may not read", "docs"),
    "misses": ("correctness", "documents a device may read but lacks", "docs"),
    "stale": ("correctness", "documents at an older revision than the gateway's", "docs"),
    "lost_writes": ("correctness", "acknowledged writes missing on the gateway", "writes"),
    "duplicated_writes": ("correctness", "acknowledged writes on two live branches", "writes"),
    "final_sync_failures": ("correctness", "devices whose final sync failed", "devices"),
    "oracle_findings": ("correctness", "routing oracle findings", "findings"),
    "outages": ("faults", "gateway outages injected", "outages"),
    "retries": ("faults", "replications retried by devices", "retries"),
    "budget_kills": ("faults", "wakes killed for overrunning their budget", "wakes"),
    "link_cuts": ("faults", "device connections cut by their links", "cuts"),
    "errors": ("errors", "device replication errors, all", "errors"),
    "protocol_errors": ("errors", "replications ended by a protocol error", "errors"),
}
GROUPS = ("throughput", "latency", "correctness", "faults", "errors")
CORRECTNESS = tuple(name for name, (group, _, _) in FIGURES.items() if group == "correctness")
# Error kinds a device retries with Couchbase Lite's backoff (rig.replicator.retry.is_transient):
# under a gateway fault they are expected, and the retry recovers them.
RETRIED_KINDS = frozenset({"ConnectError", "ConnectionClosed", "ReadTimeout", "ConnectionResetError",
                           "BrokenPipeError", "TimeoutError", "HandshakeRejected"})


def errors_split(summary: dict[str, Any]) -> tuple[int, int]:
    """(recovered, failed) device errors: retried kinds are recovered unless the final sync of
    that device failed too; every other kind (protocol errors, refused credentials) failed."""
    by_kind: dict[str, int] = summary.get("device_errors_by_kind") or {}
    retried = sum(count for kind, count in by_kind.items() if kind in RETRIED_KINDS)
    failed = sum(count for kind, count in by_kind.items() if kind not in RETRIED_KINDS)
    failed += len(summary.get("final_sync_failures") or [])
    return retried, failed


def judge(summary: dict[str, Any]) -> tuple[bool, list[str]]:
    """(passed, reasons): failed thresholds, then correctness findings (these fail a run even
    without a threshold naming them: nothing may be lost, leaked or missed)."""
    figures: dict[str, float] = summary.get("figures") or {}
    reasons = [f"threshold failed: {text}" for text in (summary.get("thresholds") or {}).get("failed", [])]
    for name in CORRECTNESS:
        value = figures.get(name)
        if value:
            reasons.append(f"{FIGURES[name][1]}: {value:g}")
    return not reasons, reasons


def _value(value: float, unit: str) -> str:
    shown = f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{shown} {unit}"


def figures_table(figures: dict[str, float]) -> str:
    """The key figures in groups, each with its human name, its unit and its `--fail-if` name."""
    rows = []
    for group in GROUPS:
        for name, (in_group, label, unit) in FIGURES.items():
            if in_group == group and name in figures:
                rows.append((group, label, _value(float(figures[name]), unit), name))
    known = set(FIGURES)
    rows += [("other", name.replace("_", " "), f"{float(value):.4g}", name)
             for name, value in sorted(figures.items()) if name not in known]
    return html.table(["group", "figure", "value", "--fail-if name"], rows)


def verdict_block(summary: dict[str, Any]) -> str:
    """PASS or FAIL and why, the thresholds, the oracle, errors recovered and failed, and the
    rig's own saturation when the run recorded it (`summary["rig"]`)."""
    passed, reasons = judge(summary)
    thresholds = summary.get("thresholds") or {}
    # "applied": what was judged (a routing spec adds oracle_findings>0 unless --fail-if relaxed it).
    given, failed = thresholds.get("applied", thresholds.get("given", [])), thresholds.get("failed", [])
    word = "PASS" if passed else "FAIL"
    lines = [f'<p class="verdict {"good" if passed else "bad"}">{word}</p>']
    if reasons:
        lines.append(html.bullet_list(reasons))
    lines.append(html.paragraph(
        "thresholds: none given (rig run --fail-if NAME OP NUMBER)" if not given else
        f"thresholds: {len(failed) or 'none'} of {len(given)} failed (fail if: {'; '.join(given)})"))
    oracle = summary.get("oracle")
    if oracle:
        findings = int(oracle.get("findings", 0))
        lines.append(html.paragraph(f"routing oracle ({oracle.get('spec')}): " +
                                    ("no findings" if findings == 0 else f"{findings} finding(s)"),
                                    "good" if findings == 0 else "bad"))
    else:
        lines.append(html.paragraph("routing oracle: not run (no [routing] spec in this scenario); every device "
                                    "was still checked against the gateway's own view"))
    recovered, failed_errors = errors_split(summary)
    lines.append(html.paragraph(
        f"device errors: {recovered} recovered (retried with Couchbase Lite's backoff; expected under "
        f"gateway faults), {failed_errors} failed", "bad" if failed_errors else ""))
    saturated = (summary.get("rig") or {}).get("saturated")
    if saturated is not None:  # the rig's own CPU, recorded by the load processes
        lines.append(html.paragraph(
            "the rig itself was saturated: its figures understate the gateway" if saturated else
            "the rig was not saturated", "bad" if saturated else "good"))
    return '<div class="verdict-block">' + "\n".join(lines) + "</div>"
