"""The release check's HTML report: verdict, conformance and benchmarks side by side, the gateways compared.

Pure: the release check's JSON document in, one self-contained HTML page out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rig.report import html


def render(document: dict[str, Any]) -> str:
    comparison = document["comparison"]
    labels: list[str] = comparison["labels"]
    baseline = comparison["baseline"]
    passed = comparison["passed"]
    subtitle = (f"{len(labels)} gateways, baseline {baseline}; {document['time']}; "
                f"{document['seconds'] / 60:.1f} minutes; tolerance {comparison['tolerance'] * 100:.0f} %")
    parts = [_verdict(comparison, passed), _gateways(document, labels), _conformance(comparison, labels),
             _benchmarks(comparison, labels, document), _scenario(comparison, labels), _settings(comparison, labels)]
    return html.page("Release check", subtitle, parts)


def _verdict(comparison: dict[str, Any], passed: bool) -> str:
    findings = comparison["findings"]
    if passed:
        head = html.paragraph(f"PASSED: no conformance difference and no regression beyond "
                              f"{comparison['tolerance'] * 100:.0f} % against {comparison['baseline']} "
                              "(exit code 0).", "good")
        return html.section("verdict", "Verdict", head)
    head = html.paragraph(f"FAILED: {len(findings)} finding(s) against {comparison['baseline']} (exit code 1).", "bad")
    rows = [(f["kind"], f["gateway"], f["subject"], f["detail"]) for f in findings]
    return html.section("verdict", "Verdict", head,
                        html.table(["kind", "gateway", "case / benchmark / figure", "detail"], rows,
                                   ["regression"] * len(rows)))


def _gateways(document: dict[str, Any], labels: list[str]) -> str:
    rows = []
    for gateway in document["gateways"]:
        described = gateway.get("describe") or {}
        stages = ", ".join(f"{name} {'ok' if s.get('ok') else 'FAILED'} ({s.get('seconds', '-')} s)"
                           for name, s in gateway["stages"].items())
        rows.append((gateway["label"], gateway["name"], described.get("version", "-"),
                     described.get("cpu_source", "-"), stages))
    return html.section("gateways", "Gateways compared",
                        html.table(["label", "as given", "version (admin API)", "CPU read from", "stages"], rows))


def _conformance(comparison: dict[str, Any], labels: list[str]) -> str:
    rows_all = comparison["conformance"]
    if not rows_all:
        return html.section("conformance", "Conformance", html.paragraph("Not run (or not on the baseline)."))
    differing = sum(1 for r in rows_all if r["differs"])
    rows, classes = [], []
    for row in rows_all:
        cells = []
        for label in labels:
            cell = row["cells"].get(label, {})
            found = cell.get("findings", [])
            named = "; ".join(f"{f['kind']} {f['doc'] or '-'} user={f.get('user') or '-'}" for f in found[:4])
            cells.append(cell.get("outcome", "-") + (f" ({len(found)} findings: {named})" if found else ""))
        rows.append((("differs" if row["differs"] else ""), row["case"], *cells))
        classes.append("regression" if row["differs"] else "")
    summary = (f"{len(rows_all)} cases; {differing} differ from {comparison['baseline']}" if differing
               else f"{len(rows_all)} cases; every outcome and finding the same on every gateway")
    return html.section("conformance", "Conformance, side by side", html.paragraph(summary),
                        html.table(["", "case", *labels], rows, classes))


def _benchmarks(comparison: dict[str, Any], labels: list[str], document: dict[str, Any]) -> str:
    rows_all = comparison["benchmarks"]
    if not rows_all:
        return html.section("benchmarks", "Benchmarks", html.paragraph("Not run (or not on the baseline)."))
    headers = ["benchmark"]
    for label in labels:
        headers += [f"{label} gateway CPU-s / 1,000 docs", f"{label} docs/s"]
    headers += [f"x {label}" for label in labels[1:]]
    rows, classes = [], []
    for row in rows_all:
        values: list[object] = [row["scenario"] + ("" if row.get("judged", True) else " (shown, not judged)")]
        for label in labels:
            cell = row["cells"].get(label) or {}
            values += [cell.get("gateway_cpu_s_per_1000_docs"), cell.get("docs_per_s")]
        values += [row.get("cpu_ratio", {}).get(label) for label in labels[1:]]
        rows.append(values)
        classes.append("regression" if row["regressed"] else "")
    storms = [(g["label"], json.dumps((g["stages"].get("bench") or {}).get("wake_storm")))
              for g in document["gateways"] if (g["stages"].get("bench") or {}).get("wake_storm")]
    note = html.paragraph("Gateway CPU per document is the gateway process's own CPU time over the benchmark "
                          "(the least of the repeats: other work on the machine only adds to it), so it holds on "
                          "a shared machine where docs/s (the median) does not. "
                          f"A ratio above x{1 + comparison['tolerance']:.2f} to the baseline is a regression.")
    parts = [note, html.table(headers, rows, classes)]
    if storms:
        parts.append(html.table(["gateway", "wake storm (time to caught up)"], storms))
    return html.section("benchmarks", "Benchmarks, side by side", *parts)


def _scenario(comparison: dict[str, Any], labels: list[str]) -> str:
    rows_all = comparison["scenario"]
    if not rows_all:
        return html.section("scenario", "Phone fleet with the oracle", html.paragraph("Not run."))
    rows = [(r["figure"], *(r["cells"].get(label) for label in labels)) for r in rows_all]
    classes = ["regression" if r["worse"] else "" for r in rows_all]
    return html.section("scenario", "Phone fleet with the oracle", html.table(["figure", *labels], rows, classes))


def _settings(comparison: dict[str, Any], labels: list[str]) -> str:
    rows = [(r["key"], *(json.dumps(r["cells"].get(label)) if isinstance(r["cells"].get(label), dict)
                         else r["cells"].get(label) for label in labels)) for r in comparison["settings"]]
    classes = ["better" if r["differs"] else "" for r in comparison["settings"]]
    return html.section("settings", "Versions and settings compared",
                        html.paragraph("Highlighted rows differ between the gateways (information, not a finding)."),
                        html.table(["", *labels], rows, classes))


def write_report(document: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(document))
    return path
