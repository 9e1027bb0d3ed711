"""`rig compare RUN_A RUN_B`: key figures of two runs side by side, regressions of B against A flagged.

A figure regresses when it moves the wrong way by more than the relative tolerance and more than
its absolute floor (so 0.01 s against 0.02 s is not a 100 % regression); the correctness counts
(leaks, misses, stale, errors, final sync failures) regress on any increase.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from rig.report import html, plots
from rig.report.data import RunData


class Better(Enum):
    HIGHER = "higher"
    LOWER = "lower"
    ZERO = "zero"
    """A count that should stay 0: any increase regresses."""
    NONE = "none"
    """Context only (the size of the run)."""


@dataclass(frozen=True)
class Figure:
    name: str
    better: Better
    floor: float = 0.0
    """Smallest absolute change that can count as a regression."""


FIGURES: tuple[Figure, ...] = (
    Figure("devices", Better.NONE), Figure("wakes", Better.NONE),
    Figure("push_docs_per_s", Better.HIGHER, 0.5), Figure("pull_docs_per_s", Better.HIGHER, 0.5),
    *(Figure(f"p{q}_write_to_arrival_s", Better.LOWER, 0.05) for q in (50, 95, 99)),
    *(Figure(f"p{q}_wake_to_caught_up_s", Better.LOWER, 0.05) for q in (50, 95, 99)),
    Figure("budget_kills", Better.LOWER, 2.0),
    Figure("errors", Better.ZERO), Figure("final_sync_failures", Better.ZERO),
    Figure("leaks", Better.ZERO), Figure("misses", Better.ZERO), Figure("stale", Better.ZERO),
    Figure("lost_writes", Better.ZERO), Figure("duplicated_writes", Better.ZERO),
)


@dataclass(frozen=True)
class Row:
    name: str
    a: float | None
    b: float | None
    verdict: str
    """`regression`, `better` or empty."""

    @property
    def change(self) -> str:
        if self.a is None or self.b is None:
            return "-"
        if self.a == self.b:
            return "="
        if self.a == 0:
            return f"{self.b - self.a:+.4g}"
        return f"{(self.b - self.a) / abs(self.a) * 100:+.1f}%"


def judge(figure: Figure, a: float | None, b: float | None, tolerance: float) -> str:
    if a is None or b is None or figure.better is Better.NONE:
        return ""
    if figure.better is Better.ZERO:
        return "regression" if b > a else "better" if b < a else ""
    delta = b - a if figure.better is Better.LOWER else a - b  # > 0: B is worse
    if abs(delta) <= max(figure.floor, tolerance * abs(a)):
        return ""
    return "regression" if delta > 0 else "better"


def compare(a: RunData, b: RunData, tolerance: float = 0.10) -> list[Row]:
    rows = []
    for figure in FIGURES:
        va, vb = a.figures.get(figure.name), b.figures.get(figure.name)
        rows.append(Row(figure.name, va, vb, judge(figure, va, vb, tolerance)))
    return rows


def caveats(a: RunData, b: RunData) -> list[str]:
    """Differences of setup that make the comparison less than like for like."""
    notes = []
    for key in ("scenario", "devices", "duration_s", "time_scale", "processes"):
        if a.summary.get(key) != b.summary.get(key):
            notes.append(f"{key} differs: A {a.summary.get(key)} vs B {b.summary.get(key)}")
    if a.summary.get("machine") != b.summary.get("machine"):
        notes.append("the runs ran on different machines")
    return notes


def text_table(a: RunData, b: RunData, rows: list[Row]) -> str:
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4g}"

    lines = [f"A: {a.path}  ({a.summary.get('gateway')})", f"B: {b.path}  ({b.summary.get('gateway')})", "",
             f"{'figure':26} {'A':>10} {'B':>10} {'change':>9}  verdict"]
    for row in rows:
        mark = "REGRESSION" if row.verdict == "regression" else row.verdict
        lines.append(f"{row.name:26} {fmt(row.a):>10} {fmt(row.b):>10} {row.change:>9}  {mark}")
    regressions = [r.name for r in rows if r.verdict == "regression"]
    lines.append("")
    lines.append(f"{len(regressions)} regression(s): {', '.join(regressions)}" if regressions
                 else "no regressions")
    lines += [f"note: {note}" for note in caveats(a, b)]
    return "\n".join(lines)


def render(a: RunData, b: RunData, rows: list[Row], tolerance: float) -> str:
    regressions = [r for r in rows if r.verdict == "regression"]
    runs = html.table(["", "A", "B"], [
        ("run", str(a.path), str(b.path)),
        ("Sync Gateway", a.summary.get("gateway"), b.summary.get("gateway")),
        ("scenario", a.summary.get("scenario"), b.summary.get("scenario")),
        ("devices", a.summary.get("devices"), b.summary.get("devices")),
        ("duration, s", a.summary.get("duration_s"), b.summary.get("duration_s")),
        ("time scale", a.summary.get("time_scale"), b.summary.get("time_scale")),
    ])
    verdict = (html.paragraph(f"{len(regressions)} regression(s) of B against A: "
                              + ", ".join(r.name for r in regressions), "bad") if regressions
               else html.paragraph("no regressions of B against A", "good"))
    figures = html.table(["figure", "A", "B", "change", "verdict"],
                         [(r.name, r.a, r.b, r.change, r.verdict.upper() if r.verdict == "regression" else r.verdict)
                          for r in rows], [r.verdict for r in rows])
    latency_names = [f"p{q}_{n}" for n in ("write_to_arrival_s", "wake_to_caught_up_s") for q in (50, 95, 99)]
    rates = ["push_docs_per_s", "pull_docs_per_s"]
    body = [
        html.section("runs", "Runs", runs, *(html.paragraph(f"note: {n}") for n in caveats(a, b))),
        html.section("figures", "Key figures", verdict, figures,
                     html.paragraph(f"Tolerance {tolerance:.0%} (and an absolute floor per figure); leaks, misses, "
                                    "stale, errors and final sync failures regress on any increase.")),
        html.section("latency", "Latency percentiles",
                     html.plot(plots.compare_bars([n.removesuffix("_s") for n in latency_names],
                                                  [a.figures.get(n) for n in latency_names],
                                                  [b.figures.get(n) for n in latency_names],
                                                  "Latency percentiles, A vs B", "real seconds"),
                               "Lower is better."),
                     html.plot(plots.compare_distributions(a, b),
                               "Cumulative distributions of every arrival and every wake of both runs.")),
        html.section("throughput", "Gateway throughput",
                     html.plot(plots.compare_bars(rates, [a.figures.get(n) for n in rates],
                                                  [b.figures.get(n) for n in rates],
                                                  "Sync Gateway documents per second, A vs B", "docs/s"),
                               "Higher is better at the same offered load.")),
        html.section("findings", "Conformance findings",
                     html.plot(plots.compare_bars(list(plots.FINDINGS),
                                                  [a.figures.get(n) for n in plots.FINDINGS],
                                                  [b.figures.get(n) for n in plots.FINDINGS],
                                                  "Findings after the final sync, A vs B", "count"),
                               "Every bar should be 0.")),
    ]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return html.page(f"Comparison: {a.name} vs {b.name}", f"generated {stamp} by `rig compare`", body)


def write_comparison(a: RunData, b: RunData, out: Path, tolerance: float = 0.10) -> tuple[list[Row], str]:
    """Compare, write the HTML page to `out`, and return the rows and the text table."""
    rows = compare(a, b, tolerance)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(a, b, rows, tolerance))
    return rows, text_table(a, b, rows)
