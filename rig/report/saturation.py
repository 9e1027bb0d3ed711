"""The run report's saturation banner: on the first screen when the rig itself was the bottleneck."""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = ("border: 2px solid #c1121f; background: #fde2e4; color: #5c0a10; padding: 0.8em 1em; "
          "margin: 1em 0; border-radius: 4px;")


def _starved(rig: dict[str, Any]) -> str:
    wait = rig.get("wait_ratio_max")
    if wait is None or float(wait) < 0.25:
        return ""
    return (f" Its threads waited for a core up to {float(wait):.2f} of a second: the machine was busy with "
            f"other work too, so fewer processes elsewhere may be the cure.")


def banner_html(summary: dict[str, Any]) -> str:
    """A red banner when the run's `rig` section says a load process was saturated; "" otherwise
    (a run from before saturation was measured has no `rig` section and gets no banner)."""
    rig = summary.get("rig") or {}
    if not rig.get("saturated"):
        return ""
    seconds = float(rig.get("saturated_seconds", 0.0))
    duration = summary.get("duration_s")
    share = f" of the {float(duration):.0f} s load phase" if duration else ""
    who = ", ".join(rig.get("saturated_processes") or []) or "a load process"
    text = (f"The rig was saturated for {seconds:.1f} s{share} ({who}): up to {float(rig['cpu_ratio_max']):.2f} "
            f"of a core, event loop late by {float(rig['loop_lag_p99_s']):.3f} s at p99 (limits: "
            f"{rig.get('cpu_threshold')} of a core, {rig.get('lag_threshold_s')} s).{_starved(rig)} "
            f"During those seconds the "
            f"latencies and throughput here are the rig's own ceiling, not Sync Gateway's: run again with more "
            f"load processes (--workers auto or N, or machines).")
    return (f'<div class="saturation-banner" id="rig-saturated" role="alert" style="{_STYLE}">'
            f"<strong>Rig saturated.</strong> {escape(text)}</div>")
