"""The result of a mutation run: kill rate, every survivor with its rule and why, as text and JSON. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rig.conformance.mutate import Mutant


@dataclass(frozen=True, slots=True)
class MutantResult:
    """What became of one mutant: ``killed``, ``survived``, ``equivalent`` or ``error`` (not run to the end)."""

    mutant: Mutant
    status: str
    case: str = ""
    """The case that killed it."""
    finding: str = ""
    """The first finding (or failure) of that case, one line."""
    cases_run: int = 0
    seconds: float = 0.0
    reason: str = ""
    """For a survivor or an equivalent mutant: why, one line."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.mutant.name, "mutant": self.mutant.to_json(), "status": self.status, "case": self.case,
                "finding": self.finding, "cases_run": self.cases_run, "seconds": round(self.seconds, 2),
                "reason": self.reason}


@dataclass(slots=True)
class MutationReport:
    spec: str
    results: list[MutantResult] = field(default_factory=list)
    baseline_failures: dict[str, str] = field(default_factory=dict)
    """Cases that fail with the unmutated function (left out of the mutant runs): case -> first failure."""
    cases: list[str] = field(default_factory=list)
    seconds: float = 0.0
    writes: int = 0
    """Random writes per mutant in the equivalence check."""

    def of(self, status: str) -> list[MutantResult]:
        return [r for r in self.results if r.status == status]

    @property
    def judged(self) -> int:
        """Mutants that count: generated minus the equivalent ones."""
        return len(self.results) - len(self.of("equivalent"))

    @property
    def kill_rate(self) -> float:
        return 100.0 * len(self.of("killed")) / self.judged if self.judged else 100.0

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "generated": len(self.results), "equivalent": len(self.of("equivalent")),
                "killed": len(self.of("killed")), "survived": len(self.of("survived")),
                "errors": len(self.of("error")), "kill_rate": round(self.kill_rate, 2),
                "seconds": round(self.seconds, 1), "equivalence_writes": self.writes, "cases": self.cases,
                "baseline_failures": self.baseline_failures, "mutants": [r.to_json() for r in self.results]}


def report_text(report: MutationReport, *, verbose: bool = False) -> str:
    """A summary line, then survivors, errors, equivalent mutants (and, verbose, what killed each other one)."""
    head = (f"mutants of {report.spec}: {len(report.results)} generated, {len(report.of('equivalent'))} equivalent "
            f"(excluded), {report.judged} judged: {len(report.of('killed'))} killed, "
            f"{len(report.of('survived'))} survived"
            + (f", {len(report.of('error'))} not run" if report.of("error") else "")
            + f"; kill rate {report.kill_rate:.1f} % in {report.seconds:.0f} s over {len(report.cases)} cases")
    lines = [head]
    if report.baseline_failures:
        lines.append(f"  {len(report.baseline_failures)} case(s) fail with the unmutated function and were left out:")
        lines += [f"    {case}: {why}" for case, why in sorted(report.baseline_failures.items())]
    for status, label in (("survived", "SURVIVED"), ("error", "NOT RUN"), ("equivalent", "EQUIVALENT")):
        for result in report.of(status):
            lines.append(f"  {label:10} {result.mutant.name}: {result.reason}")
    if verbose:
        for result in report.of("killed"):
            lines.append(f"  {'killed':10} {result.mutant.name} by {result.case} ({result.cases_run} case(s), "
                         f"{result.seconds:.1f} s): {result.finding}")
    return "\n".join(lines)


def survivor_reason(mutant: Mutant, cases_run: int) -> str:
    return f"{mutant.describes}; none of {cases_run} case(s) did: {mutant.kill_hint}"
