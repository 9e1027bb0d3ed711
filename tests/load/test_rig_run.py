"""`rig run` end to end against the real Sync Gateway: one process, and a master with workers."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import rig.load

# Importing rig.load.orchestrate would import locust, whose gevent patching breaks pytest-xdist.
LOCUSTFILE = Path(rig.load.__file__).with_name("locustfile.py")

pytestmark = [pytest.mark.gateway, pytest.mark.slow]


def _rig_run(tmp_path: Path, sg_binary: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "rig", "run", "smoke", "--binary", str(sg_binary),
                             "--duration", "12", "--out", str(out), *args],
                            capture_output=True, text=True, timeout=400, env=dict(os.environ))
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    return result, summary


def test_single_process_run_writes_results_fires_locust_events_and_applies_thresholds(
    tmp_path: Path, sg_binary: Path
) -> None:
    result, summary = _rig_run(tmp_path, sg_binary, "--fail-if", "devices<1000", "--fail-if", "leaks>0")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "THRESHOLD FAILED: devices = 30 < 1000" in result.stdout
    # Not a terminal: the status line is a plain line every 10 s, never rewritten in place.
    assert re.search(r"^\[\s*1\d/12 s\] devices 30 \(.*\) \| push [0-9.]+ docs/s pull [0-9.]+ docs/s \| errors \d+$",
                     result.stdout, re.M), result.stdout[-2000:]
    assert "\r" not in result.stdout
    assert summary["thresholds"]["failed"] == ["devices = 30 < 1000"]
    figures = summary["figures"]
    assert summary["devices"] == 30
    assert figures["leaks"] == 0
    assert figures["misses"] == 0
    assert figures["stale"] == 0
    assert figures["wakes"] > 0
    assert figures["pull_docs_per_s"] > 0
    assert summary["time_scale"] == 60.0
    assert "unscaled" in summary["measurements"]["note"]
    assert summary["push"]["received"] > 0
    # The devices' own counts agree with Sync Gateway's counters over the same load phase.
    agreement = summary["throughput_agreement"]
    assert agreement["rig_pulled"] > 0 and agreement["gateway_revs_sent"] > 0
    assert abs(agreement["pull_difference_pct"]) <= 2.0, agreement
    assert abs(agreement["rig_pushed"] - agreement["gateway_docs_pushed"]) <= 1, agreement
    run = tmp_path / "run"
    with (run / "locust_stats.csv").open() as handle:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(handle)}
    assert ("WAKE", "push") in rows or ("WAKE", "refresh") in rows
    assert any(kind == "ARRIVAL" for kind, _ in rows)
    with (run / "wakes.csv").open() as handle:
        wakes = list(csv.DictReader(handle))
    assert len(wakes) == figures["wakes"]
    assert (run / "gateway" / "sync_gateway.log").is_file()


def test_master_and_two_workers_share_the_fleet(tmp_path: Path, sg_binary: Path) -> None:
    result, summary = _rig_run(tmp_path, sg_binary, "--workers", "2", "--fail-if", "misses>0")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert summary["processes"] == 2
    assert summary["devices"] == 30
    run = tmp_path / "run"
    workers = [json.loads((run / f"worker-{i}.json").read_text()) for i in range(2)]
    assert all(w["devices"] > 0 for w in workers)
    assert sum(w["devices"] for w in workers) == 30
    assert summary["figures"]["leaks"] == 0
    # The workers share out exactly the fleet one process would run: every device once, same profiles.
    from rig.load.process import assignment, user_name  # no locust here: safe in the pytest process
    from rig.load.scenario import find_scenario

    expected = [f"{user_name(u)}/{p.name}/{i}" for i, (u, p) in enumerate(assignment(find_scenario("smoke")))]
    ran = [name for w in workers for name in w["device_names"]]
    assert sorted(ran) == sorted(expected)
    assert summary["devices_run_twice"] == []
    assert summary["devices_by_profile"] == dict(sorted(Counter(n.split("/")[1] for n in expected).items()))


def test_bad_threshold_and_unknown_scenario_are_clear_errors(tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "rig", "run", "no-such-scenario"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2
    assert "scenario file not found" in bad.stderr
    assert "no-such-scenario.toml" in bad.stderr


def test_prepared_run_under_plain_locust_as_the_web_ui_runs_it(tmp_path: Path, gateway: Any) -> None:
    out = tmp_path / "ui"
    prepared = subprocess.run(
        [sys.executable, "-m", "rig", "run", "smoke", "--prepare-only", "--duration", "8", "--database", "webui",
         "--gateway-url", gateway.public_url, "--admin-url", gateway.admin_url, "--out", str(out)],
        capture_output=True, text=True, timeout=120)
    assert prepared.returncode == 0, prepared.stderr
    assert "locust -f" in prepared.stdout
    config = out / "run-config-0.json"
    # The same locustfile the web UI loads, run headless for a few seconds.
    ran = subprocess.run(
        [sys.executable, "-c",
         "import sys, rig.load._early; from locust.main import main; sys.argv[0]='locust'; main()",
         "-f", str(LOCUSTFILE), "--headless", "--users", "30", "--spawn-rate", "30", "--run-time", "10s",
         "--only-summary"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, RIG_RUN_CONFIG=str(config)))
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "WAKE" in ran.stdout + ran.stderr or "ARRIVAL" in ran.stdout + ran.stderr
    result = json.loads((out / "worker-0.json").read_text())
    assert result["devices"] == 30
    assert result["verify_problems"] == []


def test_a_worker_started_apart_joins_through_messages_only(tmp_path: Path, sg_binary: Path) -> None:
    """`rig worker --master-host` (what other machines and containers run) beside one local worker:
    configs and results travel as locust messages; that worker never sees the run directory."""
    from rig.gateway.local import free_port

    port = free_port()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with (tmp_path / "apart.log").open("w") as log:
        apart = subprocess.Popen([sys.executable, "-m", "rig", "worker", "--master-host", "127.0.0.1",
                                  "--master-port", str(port)], cwd=elsewhere, stdout=log, stderr=subprocess.STDOUT,
                                 env=dict(os.environ, PYTHONPATH=str(Path(rig.load.__file__).parents[2])))
        try:
            result, summary = _rig_run(tmp_path, sg_binary, "--workers", "1", "--expect-workers", "1",
                                       "--master-port", str(port), "--fail-if", "misses>0")
            assert apart.wait(timeout=60) == 0, (tmp_path / "apart.log").read_text()[-3000:]
        finally:
            apart.kill()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "waiting for 1 worker(s): rig worker --master-host" in result.stdout
    assert summary["processes"] == 2 and summary["devices"] == 30 and summary["devices_run_twice"] == []
    run = tmp_path / "run"
    workers = [json.loads((run / f"worker-{i}.json").read_text()) for i in range(2)]
    assert sorted(w["devices"] for w in workers) == [15, 15]
    assert summary["figures"]["leaks"] == 0 and summary["figures"]["final_sync_failures"] == 0
    assert list(elsewhere.iterdir()) == [], "the worker apart wrote files where it runs"
    assert "results sent to the master" in (tmp_path / "apart.log").read_text()
