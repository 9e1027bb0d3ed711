"""`rig run`'s CPU per document (rig.load.cpu_cost) against the real Sync Gateway: the figures are
there, their ratio is rig over gateway, and a --fail-if on them fails and passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rig.load.cpu_cost import PROC_KEY, cpu_per_document

pytestmark = [pytest.mark.gateway, pytest.mark.slow]


def _rig_run(out: Path, sg_binary: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = subprocess.run([sys.executable, "-m", "rig", "run", "smoke", "--binary", str(sg_binary),
                             "--duration", "10", "--out", str(out), *args],
                            capture_output=True, text=True, timeout=400, env=dict(os.environ))
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    return result, summary


def _check_figures(summary: dict[str, Any], processes: int) -> dict[str, Any]:
    cost = summary["cpu_per_document"]
    assert cost["source"] == "/proc/<pid>/stat of the gateway process", cost
    assert cost["processes"] == processes
    assert cost["documents"] > 0 and cost["window_s"] > 5, cost
    assert cost["rig_cpu_s"] > 0 and cost["gateway_cpu_s"] > 0, cost
    assert cost["rig_ms"] == pytest.approx(cost["rig_cpu_s"] / cost["documents"] * 1000, rel=0.01)
    assert cost["gateway_ms"] == pytest.approx(cost["gateway_cpu_s"] / cost["documents"] * 1000, rel=0.01)
    assert cost["ratio"] == pytest.approx(cost["rig_ms"] / cost["gateway_ms"], rel=0.01)
    figures = summary["figures"]
    assert figures["rig_cpu_ms_per_doc"] == cost["rig_ms"]
    assert figures["gateway_cpu_ms_per_doc"] == cost["gateway_ms"]
    assert figures["rig_vs_gateway_cpu_ratio"] == cost["ratio"]
    return dict(cost)


def test_cpu_per_document_in_one_process_and_a_threshold_on_it_failing(tmp_path: Path, sg_binary: Path) -> None:
    out = tmp_path / "run"
    result, summary = _rig_run(out, sg_binary, "--fail-if", "rig_vs_gateway_cpu_ratio>0.0001")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    cost = _check_figures(summary, processes=1)
    assert f"THRESHOLD FAILED: rig_vs_gateway_cpu_ratio = {cost['ratio']:.4g} > 0.0001" in result.stdout
    assert summary["thresholds"]["failed"] == [f"rig_vs_gateway_cpu_ratio = {cost['ratio']:.4g} > 0.0001"]
    assert f"rig {cost['rig_ms']:.3f} ms" in result.stdout and f"rig/gateway {cost['ratio']:.2f}" in result.stdout
    # The gateway's own process_cpu_seconds_total (what a gateway in a container or given by URL is
    # measured by) was sampled too, and tells the same CPU as /proc over the same window.
    worker = json.loads((out / "worker-0.json").read_text())
    by_metric = cpu_per_document([{k: v for k, v in s.items() if k != PROC_KEY} for s in worker["samples"]],
                                 [worker["rig"]])
    assert by_metric["source"] == "gateway metric process_cpu_seconds_total"
    assert by_metric["gateway_cpu_s"] == pytest.approx(cost["gateway_cpu_s"], abs=0.2)


def test_cpu_per_document_over_a_master_and_a_worker_and_thresholds_passing(tmp_path: Path, sg_binary: Path) -> None:
    result, summary = _rig_run(tmp_path / "run", sg_binary, "--workers", "1",
                               "--fail-if", "rig_vs_gateway_cpu_ratio>1000", "--fail-if", "rig_cpu_ms_per_doc>100000",
                               "--fail-if", "gateway_cpu_ms_per_doc>100000")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    _check_figures(summary, processes=2)  # the master's CPU counts too
    assert summary["thresholds"]["failed"] == []


def test_a_gateway_given_by_url_is_measured_by_its_own_metric(tmp_path: Path, gateway: Any) -> None:
    """No process the rig started: the gateway's CPU comes from its process_cpu_seconds_total."""
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "rig", "run", "smoke", "--duration", "10",
                             "--database", "cpu_by_url", "--gateway-url", gateway.public_url,
                             "--admin-url", gateway.admin_url,
                             "--metrics-url", gateway.metrics_url, "--out", str(out),
                             "--fail-if", "gateway_cpu_ms_per_doc<0.000001"],
                            capture_output=True, text=True, timeout=400, env=dict(os.environ))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cost = json.loads((out / "summary.json").read_text())["cpu_per_document"]
    assert cost["source"] == "gateway metric process_cpu_seconds_total", cost
    assert cost["documents"] > 0 and cost["rig_ms"] > 0 and cost["gateway_ms"] > 0, cost
    assert cost["ratio"] == pytest.approx(cost["rig_ms"] / cost["gateway_ms"], rel=0.01)
    assert "gateway metric process_cpu_seconds_total); rig/gateway" in result.stdout
