"""`rig bench capacity` against the real gateway, small and fast: the result's shape, its plot and
page; a budget too small for any storm fails it; a rig judged saturated makes the storm invalid."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rig.bench import capacity

pytestmark = pytest.mark.gateway


def test_small_storms_against_the_real_gateway_give_every_figure(sg_binary: Path, tmp_path: Path) -> None:
    settings = capacity.Settings(steps=(8, 16), budget_s=30.0, backlog=3, doc_bytes=200, workers=2)
    result = capacity.run(sg_binary, tmp_path, settings, progress=lambda line: None)
    assert [step["devices"] for step in result["steps"]] == [8, 16]
    for step in result["steps"]:
        assert step["caught_up"] == step["devices"] and step["over_budget"] == step["failed"] == 0
        assert 0 < step["catch_up_s"]["p50"] <= step["catch_up_s"]["p99"] <= 30
        assert step["gateway"]["cpu_s_per_wake"] > 0 and step["rig_cpu_s_per_wake"] > 0
        assert step["valid"] and step["rig"]["processes"] == 2
    verdict = result["verdict"]
    assert verdict["stopped_because"] == "steps_exhausted" and verdict["capacity_devices"] == 16
    assert not verdict["passed"]  # the budget was never crossed: a lower bound, not the capacity
    assert result["cores"]["gateway_pinned"] == (len(result["cores"]["rig"]) > 0)
    json.dumps(result, allow_nan=False)  # no infinities left in the JSON


def _bench(tmp_path: Path, sg_binary: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "capacity.json"
    done = subprocess.run([sys.executable, "-m", "rig", "bench", "capacity", "--binary", str(sg_binary),
                           "--backlog", "2", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=300)
    return done, json.loads(out.read_text())


def test_a_budget_no_storm_can_meet_fails_with_capacity_below_the_first_step(sg_binary: Path,
                                                                             tmp_path: Path) -> None:
    done, result = _bench(tmp_path, sg_binary, "--steps", "5,10", "--budget", "0.001")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CAPACITY BELOW 5 devices" in done.stdout
    assert len(result["steps"]) == 1 and result["steps"][0]["over_budget"] == 5
    assert result["verdict"]["capacity_devices"] == 0 and not math.isnan(result["wall_s"])
    svg = (tmp_path / "capacity.svg").read_text()
    assert svg.startswith("<svg") and "over the budget" in svg
    assert "CAPACITY BELOW" in (tmp_path / "capacity.html").read_text()


def test_a_storm_that_saturated_the_rig_is_invalid(sg_binary: Path, tmp_path: Path) -> None:
    # Every second counts as saturated at these thresholds: the storm must be marked invalid.
    done, result = _bench(tmp_path, sg_binary, "--steps", "5,10", "--saturation-cpu", "0", "--saturation-lag", "0")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "INVALID: the rig saturated at 5 devices" in done.stdout
    step = result["steps"][0]
    assert not step["valid"] and "timed the rig" in step["invalid_reason"] and not result["valid"]
    assert "rig saturated: invalid" in (tmp_path / "capacity.svg").read_text()


def test_a_time_limit_reached_before_any_crossing_is_a_lower_bound_and_fails(sg_binary: Path,
                                                                              tmp_path: Path) -> None:
    done, result = _bench(tmp_path, sg_binary, "--steps", "5", "--max-minutes", "0")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CAPACITY AT LEAST 0 devices" in done.stdout and "time limit" in done.stdout
    assert result["steps"] == [] and result["verdict"]["stopped_because"] == "time_limit"
    assert "no storm measured" in (tmp_path / "capacity.svg").read_text()
