"""`rig release-check` against real gateways that do and do not differ (small sizes: see docs/release-check.md).

- main as a process and main in a container: no conformance difference, no regression;
- main with tiny caches (gateway_config/SMALL_CACHE.json): a cost regression on gateway CPU per document;
- main with the guest user enabled (gateway_config/GUEST_ENABLED.json): a conformance difference;
- a gateway started apart (`rig gateway up`) given by URL: checked, and the rig's databases gone afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from rig._paths import project_root
from rig.gateway.local import free_port
from rig.replicator.clients import RELEASES

pytestmark = [pytest.mark.gateway, pytest.mark.slow]
ROOT = project_root()
# Fewer documents than the default 2,000, but the default 5 repeats: a figure is the least of its
# repeats, and 3 were seen letting a busy shared machine push one of two equal gateways past x1.30.
TINY_BENCH = ("--bench-docs", "1000", "--bench-repeats", "5", "--bench-parallel", "3")


def _rig(*args: str, env: dict[str, str], timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rig", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def _check(tmp_path: Path, *args: str, out: str = "check") -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    env = dict(os.environ, RIG_RUNS_DIR=str(tmp_path))
    result = _rig("release-check", "--out", str(tmp_path / out), *args, env=env)
    document_path = tmp_path / out / "release-check.json"
    assert document_path.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    return result, json.loads(document_path.read_text())


def test_main_as_a_process_and_in_a_container_do_not_differ(sg_binary: Path, sg_image: str, tmp_path: Path) -> None:
    args = ("--gateway", f"a=binary:{sg_binary}", "--gateway", f"b=image:{sg_image}",
            "-k", "anonymous or public_channel or star", "--bench-parts", "pull,push,parallel", *TINY_BENCH,
            "--scenario-duration", "8",
            # The same build twice: on a CI machine shared with the suite's other xdist worker, one figure of
            # the tiny bench has been seen x1.32 apart (docs/benchmarks.md); the default 0.30 is for real checks.
            # The tiny-cache test below shows a real regression is still caught at the default tolerance.
            "--tolerance", "0.6")
    result, document = _check(tmp_path, *args)
    comparison = document["comparison"]
    assert result.returncode == 0, result.stdout[-4000:]
    assert comparison["passed"] and comparison["findings"] == []
    assert "release check PASSED" in result.stdout
    assert "[1/6] gateway 1/2 a" in result.stdout and "stage conformance" in result.stdout
    # The suite once per Couchbase Lite release the rig emulates.
    assert {r["case"] for r in comparison["conformance"]} == {f"{case} · CBL {release}" for release in RELEASES
                                                              for case in ("anonymous_client", "public_channel",
                                                                           "star_channel")}
    assert len(comparison["benchmarks"]) == 3
    for row in comparison["benchmarks"]:
        assert all(row["cells"][label]["gateway_cpu_s_per_1000_docs"] > 0 for label in ("a", "b"))
    described = {g["label"]: g["describe"] for g in document["gateways"]}
    assert described["b"]["kind"] == "image" and described["b"]["cpu_source"] == "process"
    assert {r["figure"] for r in comparison["scenario"]} >= {"oracle_findings", "lost_writes"}
    assert all(g["stages"]["scenario"]["counts"]["oracle_findings"] == 0 for g in document["gateways"])
    assert (tmp_path / "check" / "report.html").read_text().count("PASSED") >= 1

    # Interrupted or not, the same command again keeps every completed stage.
    again, _ = _check(tmp_path, *args)
    assert again.returncode == 0
    assert again.stdout.count("kept from an earlier run") == 6


def test_tiny_caches_are_a_cost_regression_on_gateway_cpu_per_document(sg_binary: Path, tmp_path: Path) -> None:
    # A bare file name: the one shipped in gateway_config/ (as `b=version:main+config:SMALL_CACHE.json`).
    result, document = _check(tmp_path, "--gateway", f"a=binary:{sg_binary}",
                              "--gateway", f"b=binary:{sg_binary}+config:SMALL_CACHE.json",
                              "--stages", "bench", "--bench-parts", "pull,parallel", *TINY_BENCH)
    comparison = document["comparison"]
    assert result.returncode == 1, result.stdout[-4000:]
    regressions = [f for f in comparison["findings"] if f["kind"] == "regression"]
    assert {f["gateway"] for f in regressions} == {"b"}
    # A one-entry revision cache makes pulls dearer (x1.6-2 seen); on a shared machine the one-device or the
    # parallel pull may be the figure that crosses the tolerance first, so either counts.
    assert any(f["subject"].startswith("pull") for f in regressions), regressions
    assert "release check FAILED" in result.stdout and "regression: b: pull" in result.stdout
    settings = {r["key"]: r for r in comparison["settings"]}
    assert settings["settings"]["differs"]
    assert settings["settings"]["cells"]["b"]["database"]["cache"]["rev_cache"]["size"] == 1


def test_an_enabled_guest_is_a_conformance_difference_naming_the_case(sg_binary: Path, tmp_path: Path) -> None:
    guest = ROOT / "gateway_config" / "GUEST_ENABLED.json"
    result, document = _check(tmp_path, "--gateway", f"a=binary:{sg_binary}",
                              "--gateway", f"b=binary:{sg_binary}+config:{guest}",
                              "--stages", "conformance", "-k", "anonymous or public_channel")
    comparison = document["comparison"]
    assert result.returncode == 1, result.stdout[-4000:]
    findings = comparison["findings"]
    assert {(f["kind"], f["gateway"], f["subject"]) for f in findings} == {
        ("conformance", "b", f"anonymous_client · CBL {release}") for release in RELEASES}
    assert all("failed where a passed" in f["detail"] and "user=GUEST" in f["detail"] for f in findings)
    cells = {r["case"]: r for r in comparison["conformance"]}["anonymous_client · CBL 3.4"]["cells"]
    assert cells["a"]["outcome"] == "passed" and cells["b"]["outcome"] == "failed"
    assert any(f["user"] == "GUEST" for f in cells["b"]["findings"])
    assert "conformance: b: anonymous_client · CBL 3.3" in result.stdout


def test_a_gateway_started_apart_is_checked_by_url_and_left_clean(sg_binary: Path, tmp_path: Path) -> None:
    env = dict(os.environ, RIG_RUNS_DIR=str(tmp_path))
    ports = [free_port() for _ in range(3)]
    up = _rig("gateway", "up", "--binary", str(sg_binary), "--public-port", str(ports[0]),
              "--admin-port", str(ports[1]), "--metrics-port", str(ports[2]), env=env, timeout=120)
    assert up.returncode == 0, up.stderr
    public, admin, metrics = (f"http://127.0.0.1:{port}" for port in ports)
    try:
        before = httpx.get(f"{admin}/_all_dbs").json()
        result, document = _check(tmp_path, "--gateway", f"staging=url:{public},{admin},{metrics}",
                                  "--gateway", f"b=binary:{sg_binary}", "--stages", "conformance,bench",
                                  "-k", "anonymous or public_channel", "--bench-parts", "pull",
                                  "--bench-docs", "300", "--bench-repeats", "2",
                                  # 300 documents measured by a metric in 10 ms steps: the same build's cost
                                  # is only judged to within x2 here (the cost verdict has its own tests).
                                  "--tolerance", "1")
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert "release check PASSED" in result.stdout
        described = {g["label"]: g["describe"] for g in document["gateways"]}
        assert described["staging"]["kind"] == "url" and described["staging"]["cpu_source"] == "metrics"
        staging = document["gateways"][0]["stages"]
        assert staging["conformance"]["ok"] and staging["bench"]["ok"]
        assert staging["conformance"]["counts"] == {"passed": 2 * len(RELEASES)}  # 2 cases, under each release
        assert staging["bench"]["results"][0]["gateway_cpu_s_per_1000_docs"] is not None
        assert not [f for f in document["comparison"]["findings"] if f["kind"] == "conformance"]
        assert httpx.get(f"{admin}/_all_dbs").json() == before == ["rig"]
        assert "removed the rig's" in result.stdout
    finally:
        down = _rig("gateway", "down", env=env, timeout=120)
    assert down.returncode == 0, down.stderr
