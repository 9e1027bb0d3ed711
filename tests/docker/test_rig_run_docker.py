"""`rig run --backend docker`: the load engine against Sync Gateway in a container.

Skipped (by the `sg_image` fixture) only when no Docker-API engine answers at DOCKER_HOST.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gateway, pytest.mark.slow]


def test_a_run_against_a_container_gets_its_webhooks_and_a_kill_loses_nothing(sg_image: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "rig", "run", "smoke", "--backend", "docker", "--image", sg_image,
                             "--duration", "20", "--fault", "kill@8+3", "--out", str(out)],
                            capture_output=True, text=True, timeout=400, env=dict(os.environ))
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["gateway"] == sg_image
    assert summary["devices"] == 30
    # The container's document_changed webhooks reached the push service on this machine's bridge address.
    assert summary["push"]["received"] > 0 and summary["push"]["delivered"] > 0, summary["push"]
    assert summary["endpoints"]["gateway_public"].startswith("http://127.0.0.1:")
    figures = summary["figures"]
    assert figures["leaks"] == 0 and figures["misses"] == 0 and figures["stale"] == 0
    assert figures["final_sync_failures"] == 0
    # The container was killed and started again on its mounted rosmar directory: nothing acknowledged is lost.
    assert [f["fault"] for f in summary["faults"]] == ["kill@8+3"]
    assert summary["faults"][0]["seconds"] is not None
    assert summary["durability"]["checked"] > 0
    assert summary["durability"]["lost"] == 0 and summary["durability"]["duplicated"] == 0
    assert figures["retries"] > 0
