"""The run report's saturation banner: first thing on the page when the rig was saturated, absent otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rig.device.measure import Measurements
from rig.report.data import RunData, Series
from rig.report.run_report import render
from rig.report.saturation import banner_html

SATURATED = {"saturated": True, "saturated_seconds": 7.5, "cpu_ratio_max": 0.99, "cpu_ratio_mean": 0.8,
             "loop_lag_p99_s": 0.62, "processes": 2, "saturated_processes": ["worker-1"], "cpu_threshold": 0.9,
             "lag_threshold_s": 0.5}


def _page(rig: dict[str, Any] | None) -> str:
    summary: dict[str, Any] = {"scenario": "smoke", "duration_s": 12, "figures": {}}
    if rig is not None:
        summary["rig"] = rig
    return render(RunData(Path("r"), summary, Measurements(), Series(), 0.0))


def test_a_saturated_run_shows_the_banner_before_anything_else() -> None:
    page = _page(SATURATED)
    assert 'id="rig-saturated"' in page
    assert page.index('id="rig-saturated"') < page.index('id="overview"')
    banner = banner_html({"rig": SATURATED, "duration_s": 12})
    assert "saturated for 7.5 s of the 12 s load phase (worker-1)" in banner
    assert "0.99 of a core" in banner and "0.620 s" in banner


def test_no_banner_when_the_rig_kept_up_or_was_not_measured() -> None:
    calm = dict(SATURATED, saturated=False, saturated_seconds=0.0, saturated_processes=[])
    assert banner_html({"rig": calm}) == ""
    assert banner_html({}) == ""
    assert "rig-saturated" not in _page(calm)
    assert "rig-saturated" not in _page(None)
