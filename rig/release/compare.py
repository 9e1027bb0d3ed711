"""Compare the stage results of several gateways: the release check's verdict. Pure (dicts in, dicts out).

The first gateway is the baseline. A finding is anything that must stop a release:
a conformance case whose outcome or findings differ from the baseline's, a benchmark whose
gateway CPU per document grew beyond the tolerance, a phone-fleet run with more oracle
findings, lost writes or device problems than the baseline's, or a stage that failed on one
gateway and not on the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TOLERANCE = 0.30
"""A gateway may cost up to 30 % more CPU per document than the baseline before it is a regression:
the same build measured twice on this shared 2-core machine came within x0.89-x0.98 with 5 repeats, and
reached x1.32 (push) with 3 (docs/release-check.md#the-tolerance)."""
CPU_KEY = "gateway_cpu_s_per_1000_docs"
SCENARIO_COUNTS = ("oracle_findings", "lost_writes", "verify_problems", "final_sync_failures", "protocol_errors")
"""Counts from a phone-fleet run that must not grow; each growth is a finding."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason the check fails."""

    kind: str
    """conformance, regression, scenario or stage."""
    gateway: str
    subject: str
    """The case, benchmark, figure or stage."""
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "gateway": self.gateway, "subject": self.subject, "detail": self.detail}

    def __str__(self) -> str:
        return f"{self.kind}: {self.gateway}: {self.subject}: {self.detail}"


@dataclass(slots=True)
class Comparison:
    labels: list[str]
    tolerance: float
    findings: list[Finding] = field(default_factory=list)
    conformance_rows: list[dict[str, Any]] = field(default_factory=list)
    bench_rows: list[dict[str, Any]] = field(default_factory=list)
    scenario_rows: list[dict[str, Any]] = field(default_factory=list)
    settings_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "baseline": self.labels[0] if self.labels else None,
                "tolerance": self.tolerance, "passed": self.passed,
                "findings": [f.as_dict() for f in self.findings],
                "conformance": self.conformance_rows, "benchmarks": self.bench_rows,
                "scenario": self.scenario_rows, "settings": self.settings_rows}


def compare(gateways: Sequence[Mapping[str, Any]], *, tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    """`gateways`: one dict per gateway, baseline first: {"label", "describe": {...}, "stages": {stage: result}}.

    A stage result is {"ok": bool, "error": str, ...stage fields}; a missing stage is not compared.
    """
    labels = [str(g["label"]) for g in gateways]
    result = Comparison(labels, tolerance)
    if not gateways:
        return result
    _stages(gateways, result)
    _conformance(gateways, result)
    _benchmarks(gateways, result)
    _scenario(gateways, result)
    _settings(gateways, result)
    return result


def _stage(gateway: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    stage = gateway.get("stages", {}).get(name)
    return stage if isinstance(stage, Mapping) and stage.get("ok") else None


def _stages(gateways: Sequence[Mapping[str, Any]], out: Comparison) -> None:
    base = gateways[0]
    for gateway in gateways:
        for name, stage in sorted(gateway.get("stages", {}).items()):
            if stage.get("ok"):
                continue
            base_ok = _stage(base, name) is not None
            if gateway is base or base_ok:
                out.findings.append(Finding("stage", str(gateway["label"]), name,
                                            f"did not complete: {stage.get('error', '?')}"))


def _signature(case: Mapping[str, Any] | None) -> tuple[str, frozenset[tuple[str, str, str]]]:
    if case is None:
        return ("absent", frozenset())
    return (str(case.get("outcome")), frozenset((str(f.get("kind")), str(f.get("doc")), str(f.get("rule")))
                                                 for f in case.get("findings", [])))


def _conformance(gateways: Sequence[Mapping[str, Any]], out: Comparison) -> None:
    runs = [_stage(g, "conformance") for g in gateways]
    if runs[0] is None:
        return
    cases = [dict(run.get("cases", {})) if run is not None else None for run in runs]
    names = sorted({name for c in cases if c is not None for name in c})
    for name in names:
        row: dict[str, Any] = {"case": name, "cells": {}, "differs": False}
        base = _signature(cases[0].get(name)) if cases[0] is not None else None
        for label, run_cases in zip(out.labels, cases, strict=True):
            if run_cases is None:
                row["cells"][label] = {"outcome": "not run", "findings": []}
                continue
            case = run_cases.get(name)
            row["cells"][label] = {"outcome": case.get("outcome") if case else "absent",
                                   "findings": list(case.get("findings", [])) if case else []}
            if label != out.labels[0] and _signature(case) != base:
                row["differs"] = True
                out.findings.append(Finding("conformance", label, name, _case_difference(
                    cases[0].get(name) if cases[0] else None, case, out.labels[0])))
        out.conformance_rows.append(row)


def _case_difference(base: Mapping[str, Any] | None, other: Mapping[str, Any] | None, base_label: str) -> str:
    b_out, b_find = _signature(base)
    o_out, o_find = _signature(other)
    parts = []
    if b_out != o_out:
        parts.append(f"{o_out} where {base_label} {b_out}")
    new = sorted(o_find - b_find)
    gone = sorted(b_find - o_find)
    if new:
        parts.append("new findings: " + "; ".join(_finding_text(other, key) for key in new[:5])
                     + (f" and {len(new) - 5} more" if len(new) > 5 else ""))
    if gone:
        parts.append(f"findings {base_label} had and this one not: "
                     + "; ".join(_finding_text(base, key) for key in gone[:5]))
    return ", ".join(parts) or "differs"


def _finding_text(case: Mapping[str, Any] | None, key: tuple[str, str, str]) -> str:
    """`sync_allowed doc=- user=GUEST (rule user.unknown)`: the signature's finding, with who it was about."""
    kind, doc, rule = key
    users = sorted({str(f.get("user") or "-") for f in (case or {}).get("findings", [])
                    if (str(f.get("kind")), str(f.get("doc")), str(f.get("rule"))) == key})
    return f"{kind} doc={doc or '-'} user={','.join(users) or '-'} (rule {rule})"


def _benchmarks(gateways: Sequence[Mapping[str, Any]], out: Comparison) -> None:
    runs = [_stage(g, "bench") for g in gateways]
    if runs[0] is None:
        return
    by_label = [{str(r["scenario"]): r for r in run.get("results", [])} if run else {} for run in runs]
    for name in [str(r["scenario"]) for r in runs[0].get("results", [])]:
        base = by_label[0][name]
        row: dict[str, Any] = {"scenario": name, "cells": {}, "regressed": [], "judged": base.get("judged", True)}
        for label, results in zip(out.labels, by_label, strict=True):
            cell = results.get(name)
            row["cells"][label] = cell
            if cell is None or label == out.labels[0]:
                continue
            ratio = _ratio(cell.get(CPU_KEY), base.get(CPU_KEY))
            cell_ratio = None if ratio is None else round(ratio, 3)
            row.setdefault("cpu_ratio", {})[label] = cell_ratio
            judged = base.get("judged", True) and cell.get("judged", True)
            if judged and ratio is not None and ratio > 1 + out.tolerance:
                row["regressed"].append(label)
                out.findings.append(Finding(
                    "regression", label, name,
                    f"gateway CPU {cell.get(CPU_KEY)} s per 1,000 documents against {base.get(CPU_KEY)} "
                    f"on {out.labels[0]} (x{ratio:.2f}, tolerance x{1 + out.tolerance:.2f})"))
        out.bench_rows.append(row)


def _ratio(value: Any, base: Any) -> float | None:
    if not isinstance(value, (int, float)) or not isinstance(base, (int, float)) or base <= 0:
        return None
    return float(value) / float(base)


def _scenario(gateways: Sequence[Mapping[str, Any]], out: Comparison) -> None:
    runs = [_stage(g, "scenario") for g in gateways]
    if runs[0] is None:
        return
    base = runs[0].get("counts", {})
    for key in (*SCENARIO_COUNTS, "docs_moved", "p95_write_to_arrival_s"):
        row: dict[str, Any] = {"figure": key, "cells": {}, "worse": []}
        for label, run in zip(out.labels, runs, strict=True):
            value = None if run is None else run.get("counts", {}).get(key)
            row["cells"][label] = value
            if key in SCENARIO_COUNTS and label != out.labels[0] and isinstance(value, (int, float)) \
                    and value > float(base.get(key) or 0):
                row["worse"].append(label)
                out.findings.append(Finding("scenario", label, key,
                                            f"{value:g} in the phone-fleet run against {base.get(key) or 0:g} "
                                            f"on {out.labels[0]}"))
        out.scenario_rows.append(row)


def _settings(gateways: Sequence[Mapping[str, Any]], out: Comparison) -> None:
    described = [g.get("describe", {}) for g in gateways]
    for key in ("name", "kind", "version", "settings"):
        values = {str(g["label"]): d.get(key) for g, d in zip(gateways, described, strict=True)}
        distinct = {repr(v) for v in values.values()}
        out.settings_rows.append({"key": key, "cells": values, "differs": len(distinct) > 1})
