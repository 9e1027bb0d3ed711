"""Every panel query of every dashboard, run through a real Prometheus that scraped a real `rig run`
and the real Sync Gateway it drove: each query returns data and every metric it names exists."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from promcheck import Prometheus, metric_names, prometheus, substitute

from rig.gateway import LocalGateway
from rig.report.dashboards import dashboards_dir, panel_queries

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

RUN_SECONDS = 15


def _run_rig_while_scraped(prom: Prometheus, gateway: LocalGateway, out: Path, database: str) -> \
        tuple[float, float]:
    """`rig run smoke` against the gateway; its metrics ports are handed to Prometheus as soon as printed."""
    started = time.time()
    rig = subprocess.Popen(
        [sys.executable, "-m", "rig", "run", "smoke", "--duration", str(RUN_SECONDS), "--database", database,
         "--gateway-url", gateway.public_url, "--admin-url", gateway.admin_url,
         "--metrics-url", gateway.metrics_url, "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert rig.stdout is not None
    lines: list[str] = []
    try:
        for line in rig.stdout:  # ends when rig exits; the subprocess timeout below bounds it
            lines.append(line)
            found = re.search(r"metrics on 127\.0\.0\.1:([\d, ]+)", line)
            if found:
                ports = [p.strip() for p in found.group(1).split(",")]
                prom.set_targets([{"targets": [f"127.0.0.1:{p}" for p in ports]}])
            assert time.time() - started < 240, "rig run took over 240 s"
        code = rig.wait(timeout=60)
    finally:
        if rig.poll() is None:
            rig.kill()
    assert code == 0, "".join(lines)[-4000:]
    assert any("metrics on" in line for line in lines), "".join(lines)
    return started, time.time()


def test_every_panel_query_returns_data_from_a_real_run(tmp_path: Path, local_gateway: LocalGateway) -> None:
    database = f"dash_{uuid.uuid4().hex[:6]}"
    gateway_target = local_gateway.metrics_url.removeprefix("http://")
    with prometheus(tmp_path / "prometheus", {"sync-gateway": [gateway_target]}) as prom:
        out = tmp_path / "run-dashcheck"
        started, ended = _run_rig_while_scraped(prom, local_gateway, out, database)
        time.sleep(2)  # one more scrape of the gateway after the run
        jobs = {t["labels"]["job"]: t["health"] for t in prom.active_targets()}
        assert jobs.get("sync-gateway") == "up", jobs

        names = set(prom.api("label/__name__/values"))
        values = {"run": out.name, "instance": gateway_target, "database": database,
                  "datasource": "Prometheus", "__rate_interval": "10s",
                  "__range": f"{int(ended - started) + 5}s"}
        checked = 0
        problems: list[str] = []
        for path in sorted(dashboards_dir().glob("*.json")):
            board: dict[str, Any] = json.loads(path.read_text())
            for title, expr in panel_queries(board):
                query = substitute(expr, values)
                missing = sorted(n for n in metric_names(query) if n not in names)
                if missing:
                    problems.append(f"{path.name} / {title}: metrics {missing} not in Prometheus ({query})")
                result = prom.api("query_range", query=query, start=str(started), end=str(ended + 2), step="1")
                points = [float(v) for series in result["result"] for _, v in series["values"]]
                if not [p for p in points if p == p]:  # every point NaN, or no series at all
                    problems.append(f"{path.name} / {title}: no data for {query}")
                checked += 1
        assert checked >= 20
        assert not problems, "\n".join(problems)

        # The check can fail: a misspelled metric returns nothing, and the run selector selects.
        assert prom.api("query", query='rig_devicez{run=~".*"}')["result"] == []
        assert prom.api("query_range", query=f'sum(rig_devices{{run=~"{out.name}-not"}})', start=str(started),
                        end=str(ended), step="1")["result"] == []
        alive = prom.api("query_range", query=f'rig_run_info{{run="{out.name}"}}', start=str(started),
                         end=str(ended), step="1")["result"][0]["values"]
        middle = str(alive[len(alive) // 2][0])
        gateway_panel = next(e for t, e in panel_queries(json.loads((dashboards_dir() / "rig-sync-gateway.json")
                                                                    .read_text())) if t == "Push and pull")
        for run, expected in ((out.name, 1), ("some-other-run", 0)):
            query = substitute(gateway_panel, {**values, "run": run})
            assert len(prom.api("query", query=query, time=middle)["result"]) == expected, (run, query)
