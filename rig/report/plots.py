"""The report's plots, drawn with matplotlib (no pyplot, no global figure state) as inline SVG text."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rig.device.measure import Measurements
from rig.report.data import RunData, Series

FINDINGS = ("leaks", "misses", "stale", "final_sync_failures", "errors")
"""Conformance and correctness figures of a run, all expected to be 0."""
OPTIONAL_FINDINGS = ("lost_writes", "duplicated_writes")
"""Shown when the run measured them (acknowledged writes checked on the gateway)."""
_COLORS = {"foreground": "#2a9d8f", "background": "#8ab17d", "awake": "#e9c46a", "suspended": "#90a4ae",
           "terminated": "#e76f51", "force_quit": "#9d4edd"}


def to_svg(fig: Figure, name: str) -> str:
    """The figure as an `<svg>` element (no XML prolog, no date), ids salted by `name` so several coexist."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": name, "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _figure(rows: int = 1, cols: int = 1, height: float = 3.2) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(9.5, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _empty(ax: Axes, why: str) -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def _cdf(ax: Axes, values: Sequence[float], label: str, color: str | None = None) -> bool:
    if not values:
        return False
    ordered = sorted(max(v, 1e-3) for v in values)
    n = len(ordered)
    ax.step(ordered, [(i + 1) / n * 100 for i in range(n)], where="post", label=f"{label} (n={n})", color=color)
    return True


def _finish_cdf(ax: Axes, title: str, drawn: bool) -> None:
    if not drawn:
        _empty(ax, f"{title}: nothing measured")
        return
    ax.set_xscale("log")
    ax.set_xlabel("real seconds (log)")
    ax.set_ylabel("% at or below")
    ax.set_ylim(0, 101)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)


Outages = Sequence[tuple[float, float, str]]
"""(start, end, label) in seconds since the run started: gateway faults, shaded on the time plots."""


def _shade(ax: Axes, outages: Outages) -> None:
    for index, (start, end, label) in enumerate(outages):
        ax.axvspan(start, max(end, start + 0.5), color="#d62728", alpha=0.15,
                   label="gateway out" if index == 0 else None)
        ax.annotate(label, (start, 1.0), xycoords=("data", "axes fraction"), fontsize=7, color="#d62728",
                    va="top", ha="left")


def throughput(series: Series, outages: Outages = ()) -> str:
    fig, (docs, events) = _figure(2, 1, 2.8)
    if not series.t:
        _empty(docs, "no time series recorded (a run from before sampling)")
        _empty(events, "")
        return to_svg(fig, "throughput")
    for name, label in (("pulled", "pulled by devices"), ("pushed", "pushed by devices"),
                        ("gateway_pulled", "revs sent by Sync Gateway"),
                        ("gateway_pushed", "docs pushed to Sync Gateway")):
        if name in series.counters:
            docs.plot(series.t, series.rate(name), label=label, linestyle="--" if "gateway" in name else "-")
    _shade(docs, outages)
    docs.set_ylabel("documents / s")
    docs.set_title("Documents per second", fontsize=10)
    docs.legend(fontsize=8, ncols=2)
    docs.grid(True, alpha=0.3)
    for name, label in (("wakes", "wakes measured"), ("arrivals", "documents arrived")):
        if name in series.counters:
            events.plot(series.t, series.rate(name), label=label)
    _shade(events, outages)
    events.set_ylabel("per second")
    events.set_xlabel("seconds since the run started")
    events.set_title("Wakes and arrivals per second", fontsize=10)
    events.legend(fontsize=8)
    events.grid(True, alpha=0.3)
    return to_svg(fig, "throughput")


def device_states(series: Series, outages: Outages = ()) -> str:
    fig, (ax,) = _figure(1, 1, 3.4)
    if not series.states:
        _empty(ax, "no device states recorded (a run from before sampling)")
        return to_svg(fig, "states")
    names = list(series.states)
    ax.stackplot(series.t, [series.states[n] for n in names], labels=names,
                 colors=[_COLORS.get(n, "#bbbbbb") for n in names], alpha=0.85)
    _shade(ax, outages)
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel("devices")
    ax.set_title("Devices by lifecycle state", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.margins(x=0)
    return to_svg(fig, "states")


def latency_distributions(measurements: Measurements) -> str:
    fig, (arrival, sync) = _figure(1, 2, 3.4)
    drawn = False
    for phase in sorted({a.phase for a in measurements.arrivals}):
        drawn |= _cdf(arrival, [a.write_to_arrival_s for a in measurements.arrivals if a.phase == phase], phase)
    _finish_cdf(arrival, "Write to arrival, by phase", drawn)
    drawn = False
    for trigger in sorted({w.trigger for w in measurements.wakes}):
        drawn |= _cdf(sync, [w.wake_to_caught_up_s for w in measurements.wakes
                             if w.trigger == trigger and w.wake_to_caught_up_s is not None], trigger)
    _finish_cdf(sync, "Wake to caught up, by trigger", drawn)
    return to_svg(fig, "latency")


def wakes_by_trigger(run: RunData) -> str:
    fig, (counts, timeline) = _figure(1, 2, 3.4)
    wakes = run.measurements.wakes
    triggers = sorted({w.trigger for w in wakes})
    if not triggers:
        _empty(counts, "no wakes measured")
        _empty(timeline, "")
        return to_svg(fig, "wakes")
    totals = [sum(w.trigger == t for w in wakes) for t in triggers]
    kills = [sum(w.trigger == t and w.overrun for w in wakes) for t in triggers]
    x = list(range(len(triggers)))
    counts.bar([i - 0.2 for i in x], totals, width=0.4, label="wakes", color="#457b9d")
    counts.bar([i + 0.2 for i in x], kills, width=0.4, label="budget kills", color="#e63946")
    for i, (total, kill) in enumerate(zip(totals, kills, strict=True)):
        counts.annotate(str(total), (i - 0.2, total), ha="center", va="bottom", fontsize=8)
        counts.annotate(str(kill), (i + 0.2, kill), ha="center", va="bottom", fontsize=8)
    counts.set_xticks(x, triggers)
    counts.set_title("Wakes and budget kills by trigger", fontsize=10)
    counts.legend(fontsize=8)
    for trigger in triggers:
        done = [w for w in wakes if w.trigger == trigger and w.wake_to_caught_up_s is not None]
        timeline.scatter([w.started_wall - run.started_at for w in done],
                         [max(w.wake_to_caught_up_s or 0.0, 1e-3) for w in done], s=10, alpha=0.7,
                         label=f"{trigger} (n={len(done)})")
    timeline.set_yscale("log")
    timeline.set_xlabel("wake started, seconds since the run started")
    timeline.set_ylabel("sync duration, s (log)")
    timeline.set_title("Sync duration of each wake", fontsize=10)
    timeline.grid(True, alpha=0.3)
    timeline.legend(fontsize=8)
    return to_svg(fig, "wakes")


def findings(figures: dict[str, float]) -> str:
    names = [*FINDINGS, *(name for name in OPTIONAL_FINDINGS if name in figures)]
    fig, (ax,) = _figure(1, 1, 1.0 + 0.3 * len(names))
    values = [figures.get(name, 0.0) for name in names]
    colors = ["#e63946" if v > 0 else "#2a9d8f" for v in values]
    bars = ax.barh(names, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:g}" for v in values], padding=3, fontsize=9)
    ax.set_xlim(0, max(1.0, max(values) * 1.2))
    ax.invert_yaxis()
    ax.set_title("Conformance after the final sync (every bar should be 0)", fontsize=10)
    return to_svg(fig, "findings")


def compare_distributions(a: RunData, b: RunData) -> str:
    fig, (arrival, sync) = _figure(1, 2, 3.4)
    drawn = _cdf(arrival, [x.write_to_arrival_s for x in a.measurements.arrivals], f"A {a.name}", color="#457b9d")
    drawn |= _cdf(arrival, [x.write_to_arrival_s for x in b.measurements.arrivals], f"B {b.name}",
                  color="#e76f51")
    _finish_cdf(arrival, "Write to arrival, A vs B", drawn)
    drawn = False
    for run, label, color in ((a, "A", "#457b9d"), (b, "B", "#e76f51")):
        drawn |= _cdf(sync, [w.wake_to_caught_up_s for w in run.measurements.wakes
                             if w.wake_to_caught_up_s is not None], f"{label} {run.name}", color=color)
    _finish_cdf(sync, "Wake to caught up, A vs B", drawn)
    return to_svg(fig, "compare-latency")


def compare_bars(names: Sequence[str], a: Sequence[float | None], b: Sequence[float | None], title: str,
                 unit: str) -> str:
    fig, (ax,) = _figure(1, 1, 3.0)
    x = list(range(len(names)))
    a_bars = ax.bar([i - 0.2 for i in x], [v or 0.0 for v in a], width=0.4, label="A", color="#457b9d")
    b_bars = ax.bar([i + 0.2 for i in x], [v or 0.0 for v in b], width=0.4, label="B", color="#e76f51")
    ax.bar_label(a_bars, labels=["-" if v is None else f"{v:.3g}" for v in a], fontsize=8)
    ax.bar_label(b_bars, labels=["-" if v is None else f"{v:.3g}" for v in b], fontsize=8)
    ax.set_xticks(x, list(names), fontsize=8)
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return to_svg(fig, f"compare-{title}")


def capacity(steps: Sequence[dict[str, Any]], budget_s: float) -> str:
    """p50 and p99 catch-up against storm size (`rig bench capacity`), the budget as a line; a quantile
    over the budget is drawn on the line with an up-triangle, a step that saturated the rig with an x."""
    fig, (ax,) = _figure(1, 1, 3.6)
    if not steps:
        _empty(ax, "no storm measured")
        return to_svg(fig, "capacity")
    sizes = [float(s["devices"]) for s in steps]
    for quantile, color in (("p50", "#457b9d"), ("p99", "#e76f51")):
        values = [s["catch_up_s"][quantile] for s in steps]
        ax.plot(sizes, [budget_s if v is None else v for v in values], marker="o", color=color,
                label=f"{quantile} catch-up")
        over = [x for x, v in zip(sizes, values, strict=True) if v is None]
        if over:
            ax.scatter(over, [budget_s] * len(over), marker="^", s=80, color=color, zorder=3,
                       label=f"{quantile} over the budget")
    invalid = [s for s in steps if not s["valid"]]
    if invalid:
        ax.scatter([float(s["devices"]) for s in invalid], [s["catch_up_s"]["p99"] or budget_s for s in invalid],
                   marker="x", s=120, color="#c1121f", zorder=4,
                   label="rig saturated: invalid")
    ax.axhline(budget_s, color="#c1121f", linestyle="--", linewidth=1, label=f"budget {budget_s:g} s")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(int(x)) for x in sizes])
    ax.set_xlabel("sleeping devices woken at once (silent pushes)")
    ax.set_ylabel("push to up to date, s")
    ax.set_ylim(0, budget_s * 1.15)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Wake-storm catch-up against storm size", fontsize=10)
    return to_svg(fig, "capacity")
