"""`rig run` with every device on its profile's link, cut by plan, and with the network taken down.

Real gateway, `rig run` as a subprocess (locust's gevent must stay out of pytest). The
devices' links are loopback proxies in the load process; the final check goes direct.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rig.faults.link import draw_link
from rig.load.process import assignment
from rig.load.scenario import load_scenario

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

SCENARIO = """
description = "40 devices of 20 users on their profiles' links"
fleet = "demo"
users = 20
devices_per_user = 2
time_scale = 60.0
duration_s = 20
ramp_per_s = 200
team_size = 5
seed = 5

[workload]
docs_per_user = 3

[links]
{links}
"""
PRESET_NAMES = {"slow3g", "slow4g", "fast4g", "cable", "wifi"}


def _run(tmp_path: Path, sg_binary: Path, links: str, *args: str) -> tuple[Path, dict[str, Any], str]:
    scenario = tmp_path / "linked.toml"
    scenario.write_text(SCENARIO.format(links=links))
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "rig", "run", str(scenario), "--binary", str(sg_binary), "--out", str(out),
         "--fail-if", "lost_writes>0", "--fail-if", "duplicated_writes>0", "--fail-if", "leaks>0",
         "--fail-if", "misses>0", "--fail-if", "stale>0", *args],
        capture_output=True, text=True, timeout=400, env=dict(os.environ))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return scenario, json.loads((out / "summary.json").read_text()), result.stdout


def _nothing_lost_or_leaked(summary: dict[str, Any]) -> None:
    figures, durability = summary["figures"], summary["durability"]
    assert summary["devices"] == 40
    assert durability["checked"] > 5, "too few acknowledged writes to mean anything"
    assert durability["lost"] == 0 and durability["duplicated"] == 0, durability
    assert figures["leaks"] == figures["misses"] == figures["stale"] == 0
    assert summary["final_sync_failures"] == []
    assert summary["protocol_errors"] == {"total": 0, "devices": {}}


def test_devices_on_their_profiles_links_cut_mid_replication_lose_and_leak_nothing(
    tmp_path: Path, sg_binary: Path
) -> None:
    scenario_path, summary, stdout = _run(tmp_path, sg_binary, "enabled = true\ncut_after_s = 6")
    _nothing_lost_or_leaked(summary)
    links = summary["links"]
    assert links["shaped"] and links["cut_plan"]["after_s"] == 6.0
    classes = links["classes"]
    # Each device's class is drawn from its profile's mix by the scenario's seed and its ordinal alone.
    scenario = load_scenario(scenario_path)
    expected = Counter(draw_link(profile.link, random.Random(f"{scenario.seed}/{ordinal}")).name
                       for ordinal, (_, profile) in enumerate(assignment(scenario)))
    assert {name: row["devices"] for name, row in classes.items()} == dict(expected)
    assert len(classes) >= 2 and set(classes) <= PRESET_NAMES
    for name, row in classes.items():
        assert row["connections"] >= 1 and row["bytes_down"] > 0 and row["bytes_up"] > 0, (name, row)
    total = links["total"]
    assert total["connections"] >= 40 and total["refused_down"] == 0
    # Continuous replications of awake devices outlive 6 s: the plan cuts them and they resume.
    assert total["cuts"] > 0 and summary["figures"]["link_cuts"] == total["cuts"]
    assert summary["figures"]["retries"] > 0
    assert "device links (shaped by the profiles' mixes)" in stdout
    for name in classes:
        assert f"    {name:8} {classes[name]['devices']:5} devices" in stdout


def test_netdown_takes_every_link_down_devices_retry_and_nothing_is_lost(tmp_path: Path, sg_binary: Path) -> None:
    _, summary, stdout = _run(tmp_path, sg_binary, "enabled = false", "--fault", "netdown@5+3")
    _nothing_lost_or_leaked(summary)
    faults = summary["faults"]
    assert [f["fault"] for f in faults] == ["netdown@5+3"]
    assert faults[0]["error"] is None and 3.0 <= faults[0]["seconds"] < 10.0, faults
    assert "fault: netdown@5+3: gateway back after" in stdout
    links = summary["links"]
    assert not links["shaped"] and list(links["classes"]) == ["direct"]  # links off: one unshaped proxy
    assert links["classes"]["direct"]["devices"] == 40
    [window] = links["netdown_seen"]
    assert 2.5 <= window["up_at"] - window["down_at"] < 10.0, window
    total = links["total"]
    assert total["cuts"] + total["refused_down"] > 0, "the network went down under nobody"
    assert summary["figures"]["retries"] > 0, "no device retried: the outage went unnoticed"
    assert faults[0]["wakes_touched"] > 0
