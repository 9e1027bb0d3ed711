"""The run report and the comparison, from a real `rig run` against the real Sync Gateway, opened in
headless Chromium (Debian's package): the pages render and their plots are present.

The comparison's B is a modified copy of the real run A (its summary figures and measured arrival
latencies made worse, one leak added), so a regression is known to be there and must be flagged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from PIL import Image

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPORT_SECTIONS = ["Verdict", "Key figures", "Run", "Throughput over time", "Device states over time",
                   "Latency distributions", "By client release", "Wakes and sync durations by trigger",
                   "Conformance findings"]


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is not installed: `apt-get install -y chromium` (./rig.sh setup does it)"
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-extensions", f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def _dom(page: Path, tmp_path: Path) -> str:
    out = _chromium(["--dump-dom", page.resolve().as_uri()], tmp_path / "profile-dom")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "<body>" in out.stdout
    return out.stdout


def _colored_pixels(page: Path, tmp_path: Path) -> int:
    """Pixels of a screenshot that are clearly coloured: only the plots paint those (text is grey)."""
    shot = tmp_path / f"{page.stem}.png"
    out = _chromium(["--hide-scrollbars", "--window-size=1200,5000", f"--screenshot={shot}", page.resolve().as_uri()],
                    tmp_path / "profile-shot")
    assert out.returncode == 0 and shot.is_file(), out.stderr[-2000:]
    with Image.open(shot) as image:
        rgb = numpy.asarray(image.convert("RGB")).astype(int)
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 60).sum())


def _self_contained(html: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html), "the page fetches from the network"
    assert "<script" not in html and "<link" not in html and "<img" not in html


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory, sg_binary: Path) -> Path:
    out = tmp_path_factory.mktemp("report") / "run-smoke-real"
    result = subprocess.run([sys.executable, "-m", "rig", "run", "smoke", "--binary", str(sg_binary),
                             "--duration", "12", "--out", str(out)],
                            capture_output=True, text=True, timeout=400, env=dict(os.environ))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"report: {out / 'report.html'}" in result.stdout
    return out


def test_run_report_renders_with_its_plots(real_run: Path, tmp_path: Path) -> None:
    page = real_run / "report.html"
    html = page.read_text()
    _self_contained(html)
    dom = _dom(page, tmp_path)
    titles = re.findall(r"<h2>([^<]+)</h2>", dom)
    assert titles[:len(REPORT_SECTIONS)] == REPORT_SECTIONS
    assert dom.count("<svg") >= 5
    assert "Run report: run-smoke-real" in dom
    # The plots draw real data: device states and throughput from the samples, wakes by trigger.
    worker = json.loads((real_run / "worker-0.json").read_text())
    assert len(worker["samples"]) >= 10
    assert max(sum(s["states"].values()) for s in worker["samples"]) == 30
    assert "no time series recorded" not in dom and "no wakes measured" not in dom
    assert "no findings: every device holds exactly what its user may read" in dom
    assert _colored_pixels(page, tmp_path) > 20_000

    # `rig report` rebuilds it.
    (real_run / "report.html").unlink()
    rebuilt = subprocess.run([sys.executable, "-m", "rig", "report", str(real_run)], capture_output=True, text=True,
                             timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert page.is_file() and "file://" in rebuilt.stdout


def _worse_copy(run: Path, target: Path) -> Path:
    """B: run A's results made worse (arrivals 3x slower, pull rate halved, one leak)."""
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("gateway"))
    summary = json.loads((target / "summary.json").read_text())
    figures = summary["figures"]
    for q in (50, 95, 99):
        figures[f"p{q}_write_to_arrival_s"] = figures[f"p{q}_write_to_arrival_s"] * 3 + 1.0
    figures["pull_docs_per_s"] /= 2
    figures["leaks"] = 1.0
    summary["verify_problems"] = ["leak: user-0001/ios-active/0 holds user-0002.seed.0 (modified copy)"]
    (target / "summary.json").write_text(json.dumps(summary))
    worker = json.loads((target / "worker-0.json").read_text())
    for arrival in worker["measurements"]["arrivals"]:
        arrival["write_to_arrival_s"] = arrival["write_to_arrival_s"] * 3 + 1.0
    (target / "worker-0.json").write_text(json.dumps(worker))
    return target


def test_compare_flags_the_regression_and_renders(real_run: Path, tmp_path: Path) -> None:
    worse = _worse_copy(real_run, tmp_path / "run-smoke-worse")
    page = tmp_path / "compare.html"
    result = subprocess.run([sys.executable, "-m", "rig", "compare", str(real_run), str(worse), "--out", str(page),
                             "--fail-on-regression"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    flagged = {line.split()[0] for line in result.stdout.splitlines() if line.endswith("REGRESSION")}
    assert flagged == {"p50_write_to_arrival_s", "p95_write_to_arrival_s", "p99_write_to_arrival_s",
                       "pull_docs_per_s", "leaks"}, result.stdout
    assert "5 regression(s)" in result.stdout

    html = page.read_text()
    _self_contained(html)
    dom = _dom(page, tmp_path)
    assert re.findall(r"<h2>([^<]+)</h2>", dom) == ["Runs", "Key figures", "Latency percentiles",
                                                    "Gateway throughput", "Conformance findings"]
    assert dom.count("<svg") == 4
    assert dom.count('class="regression"') == 5
    assert _colored_pixels(page, tmp_path) > 10_000

    # A run against itself: nothing flagged, exit 0 even with --fail-on-regression.
    same = subprocess.run([sys.executable, "-m", "rig", "compare", str(real_run), str(real_run), "--out",
                           str(tmp_path / "same.html"), "--fail-on-regression"],
                          capture_output=True, text=True, timeout=120)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no regressions" in same.stdout
