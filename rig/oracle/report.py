"""Findings and suite results as text, JSON and JUnit XML; two runs side by side. Pure (strings in, strings out)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from xml.etree import ElementTree

from rig.oracle.check import Finding


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One pytest item of a conformance run (a case's spec-checked or gateway-view variant, any
    parametrisation): passed/failed/error/skipped, its findings, its time. `name` is the item's
    own pytest name (``test_case[roles]``), so no two items ever share a row."""

    name: str
    outcome: str
    seconds: float = 0.0
    findings: tuple[Finding, ...] = ()
    message: str = ""


@dataclass(slots=True)
class RunResult:
    label: str
    cases: dict[str, CaseResult] = field(default_factory=dict)
    seconds: float = 0.0
    mode: str = ""
    """What the findings were checked against (see rig.conformance.runner.MODES)."""
    pytest_exit: int | None = None
    """pytest's own exit code (None: not run through pytest)."""
    pytest_summary: str = ""
    """pytest's own final line, e.g. "1 failed, 12 passed in 30.1s"."""
    problems: list[str] = field(default_factory=list)
    """Why the results cannot be trusted as read (counts that disagree, no results, ...)."""
    cbl: str = ""
    """The Couchbase Lite release the suite's devices behaved as ("" when not chosen)."""

    @property
    def counts(self) -> Counter[str]:
        return Counter(c.outcome for c in self.cases.values())

    def failures(self) -> list[str]:
        """Every reason this run must not pass a release gate; [] only when everything passed cleanly."""
        reasons = list(self.problems)
        if self.pytest_exit not in (None, 0):
            reasons.append(f"pytest exited with {self.pytest_exit}"
                           + {5: " (no tests collected)", 2: " (interrupted)", 3: " (internal error)",
                              4: " (usage error)"}.get(self.pytest_exit, ""))
        if not self.cases:
            reasons.append("no results")
        bad = sorted(n for n, c in self.cases.items() if c.outcome != "passed")
        if bad:
            reasons.append(f"{len(bad)} not passed: {', '.join(bad[:10])}" + (" ..." if len(bad) > 10 else ""))
        found = sum(len(c.findings) for c in self.cases.values())
        if found:
            reasons.append(f"{found} findings")
        return reasons

    @property
    def passed(self) -> bool:
        return not self.failures()


def findings_text(findings: Sequence[Finding]) -> str:
    if not findings:
        return "no findings"
    kinds = Counter(f.kind.value for f in findings)
    head = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return "\n".join([f"{len(findings)} findings ({head})", *(f"  {f}" for f in findings)])


def findings_json(findings: Sequence[Finding]) -> str:
    return json.dumps([f.to_json() for f in findings], indent=2)


def findings_junit(suite: str, cases: Mapping[str, Sequence[Finding]]) -> str:
    """A JUnit XML document: one testcase per case, a failure per case with findings."""
    root = ElementTree.Element("testsuite", name=suite, tests=str(len(cases)),
                               failures=str(sum(1 for f in cases.values() if f)))
    for name, findings in cases.items():
        case = ElementTree.SubElement(root, "testcase", classname=suite, name=name)
        if findings:
            failure = ElementTree.SubElement(case, "failure", message=f"{len(findings)} findings")
            failure.text = findings_text(findings)
    return ElementTree.tostring(root, encoding="unicode")


def run_text(run: RunResult) -> str:
    counts = run.counts
    lines = [f"{run.label}: {counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
             f"{counts.get('error', 0)} errors, {counts.get('skipped', 0)} skipped in {run.seconds:.1f}s"
             + (f" (pytest: {run.pytest_summary})" if run.pytest_summary else "")]
    for case in sorted(run.cases.values(), key=lambda c: c.name):
        flag = " (findings, yet pytest passed it)" if case.outcome == "passed" and case.findings else ""
        lines.append(f"  {case.outcome.upper():7} {case.name} ({case.seconds:.1f}s){flag}")
        lines.extend(f"          {f}" for f in case.findings)
        if case.outcome in ("failed", "error") and not case.findings and case.message:
            lines.append(f"          {case.message.splitlines()[0][:200] if case.message else ''}")
    for problem in run.problems:
        lines.append(f"  PROBLEM {problem}")
    failures = run.failures()
    scope = " (gateway view only: no write checks, no policy)" if run.mode == "gateway" else ""
    lines.append(f"VERDICT {run.label}: " + ("PASS" if not failures else "FAIL (" + "; ".join(failures) + ")")
                 + scope)
    return "\n".join(lines)


def side_by_side(runs: Sequence[RunResult]) -> str:
    """One row per case, one column per run; a `*` marks the cases whose outcome or findings differ."""
    names = sorted({name for run in runs for name in run.cases})
    width = max([len(n) for n in names] + [4])
    columns = [max(len(run.label), 14) for run in runs]
    header = "  ".join([" ", "case".ljust(width), *(run.label.ljust(w) for run, w in zip(runs, columns, strict=True))])
    lines = [header, "-" * len(header)]

    def cell(run: RunResult, name: str) -> str:
        case = run.cases.get(name)
        if case is None:
            return "-"
        return case.outcome.upper() + (f" ({len(case.findings)}f)" if case.findings else "")

    def signature(run: RunResult, name: str) -> tuple[str, frozenset[tuple[str, str, str]]]:
        case = run.cases.get(name)
        if case is None:
            return ("-", frozenset())
        return (case.outcome, frozenset((f.kind.value, f.doc, f.rule) for f in case.findings))

    differing = 0
    for name in names:
        differs = len({signature(run, name) for run in runs}) > 1
        differing += differs
        lines.append("  ".join(["*" if differs else " ", name.ljust(width),
                                *(cell(run, name).ljust(w) for run, w in zip(runs, columns, strict=True))]))
    lines.append("")
    lines.append("totals: " + "; ".join(
        f"{run.label}: {run.counts.get('passed', 0)}/{len(run.cases)} passed in {run.seconds:.0f}s, "
        + ("PASS" if run.passed else "FAIL") for run in runs))
    lines.append(f"{differing} case(s) differ" if differing else "no differences")
    return "\n".join(lines)
