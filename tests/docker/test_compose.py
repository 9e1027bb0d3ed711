"""docker-compose.yml with the test override: Sync Gateway and Prometheus up, scraped by service name; the
rig as a master and two scaled workers running a short scenario, scraped by service name too; down cleans.

Skipped (by the `sg_image` fixture) only when no Docker-API engine answers at DOCKER_HOST;
a missing docker-compose or Prometheus binary is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from rig._paths import project_root
from rig.gateway.image import docker_client, prometheus_image
from rig.gateway.local import free_port

pytestmark = pytest.mark.gateway


def _compose(project: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is not installed (./rig.sh setup installs it)"
    root = project_root()
    return subprocess.run([exe, "-p", project, "-f", str(root / "docker-compose.yml"),
                           "-f", str(root / "docker-compose.test.yml"), *args],
                          cwd=root, env=env, capture_output=True, text=True, timeout=180, check=False)


def _leftovers(client: Any, project: str) -> list[str]:
    containers = [c.name for c in client.containers.list(all=True)
                  if (c.labels or {}).get("com.docker.compose.project") == project]
    networks = [n.name for n in client.networks.list() if n.name.startswith(f"{project}_")]
    volumes = [v.name for v in client.volumes.list() if v.name.startswith(f"{project}_")]
    return containers + networks + volumes


# Without the rig: the stack the gateway-only tests need (the rig's services would start a run).
GATEWAY_AND_PROMETHEUS = ("sync-gateway", "prometheus")


@contextmanager
def compose_stack(sg_image: str, up_args: Sequence[str] = GATEWAY_AND_PROMETHEUS,
                  env_extra: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """The compose stack up under a unique project name and free loopback ports; always taken down."""
    client = docker_client()
    prometheus_image(client=client)
    project = f"rigtest{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "RIG_SG_PUBLIC_PORT": str(free_port()), "RIG_PROMETHEUS_PORT": str(free_port()),
           "RIG_SG_LOCAL_TAG": sg_image.rsplit(":", 1)[1], **(env_extra or {})}
    info = {"project": project, "env": env, "client": client,
            "public": f"http://127.0.0.1:{env['RIG_SG_PUBLIC_PORT']}",
            "prometheus": f"http://127.0.0.1:{env['RIG_PROMETHEUS_PORT']}"}
    up = _compose(project, env, "up", "-d", *up_args)
    try:
        assert up.returncode == 0, f"docker-compose up failed:\n{up.stdout}\n{up.stderr}"
        yield info
    finally:
        down = _compose(project, env, "down", "-v", "--remove-orphans")
        info["down"] = down


def _targets(prometheus: str, job: str) -> list[dict[str, Any]]:
    try:
        targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    except (httpx.HTTPError, ValueError, KeyError):
        return []
    return [t for t in targets if t["labels"].get("job") == job]


def _sync_gateway_target(prometheus: str) -> dict[str, Any] | None:
    found = _targets(prometheus, "sync-gateway")
    return found[0] if found else None


@pytest.fixture
def stack(sg_image: str) -> Iterator[dict[str, Any]]:
    with compose_stack(sg_image) as info:
        yield info


def test_compose_stack_scrapes_sync_gateway_by_service_name(stack: dict[str, Any]) -> None:
    client, project = stack["client"], stack["project"]
    services = {c.labels["com.docker.compose.service"]: c for c in client.containers.list(all=True)
                if (c.labels or {}).get("com.docker.compose.project") == project}
    assert set(services) == {"sync-gateway", "prometheus"}, "Grafana must be left out by the test override"

    # Only the public port and the UI are published, on loopback; admin and metrics stay inside.
    for name, port in (("sync-gateway", "4984/tcp"), ("prometheus", "9090/tcp")):
        bindings = client.api.inspect_container(services[name].id)["NetworkSettings"]["Ports"]
        published = {p: [b["HostIp"] for b in hosts] for p, hosts in bindings.items() if hosts}
        assert published == {port: ["127.0.0.1"]}, (name, published)

    deadline = time.monotonic() + 90
    target = None
    while time.monotonic() < deadline:
        target = _sync_gateway_target(stack["prometheus"])
        if target is not None and target["health"] == "up":
            break
        time.sleep(1)
    assert target is not None, "Prometheus has no sync-gateway target"
    assert target["scrapeUrl"] == "http://sync-gateway:4986/metrics"
    assert target["health"] == "up", target
    assert httpx.get(stack["public"] + "/", timeout=5).json()["vendor"]["name"] == "Couchbase Sync Gateway"
    query = httpx.get(stack["prometheus"] + "/api/v1/query", params={"query": 'up{job="sync-gateway"}'},
                      timeout=5).json()
    assert query["data"]["result"][0]["value"][1] == "1"


def test_compose_down_leaves_no_container_network_or_volume(sg_image: str) -> None:
    with compose_stack(sg_image) as info:
        assert len(_leftovers(info["client"], info["project"])) >= 3, "the stack did not come up"
    down = info["down"]
    assert down.returncode == 0, f"docker-compose down failed:\n{down.stdout}\n{down.stderr}"
    assert _leftovers(info["client"], info["project"]) == []


@pytest.fixture(scope="session")
def rig_image() -> str:
    """localhost/rig:test from this checkout and this machine's Python (reused while nothing changed)."""
    from rig.image import rig_image as build

    return build("test")


def _services(client: Any, project: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for container in client.containers.list(all=True):
        labels = container.labels or {}
        if labels.get("com.docker.compose.project") == project:
            found.setdefault(labels["com.docker.compose.service"], []).append(container)
    return found


def test_compose_runs_the_rig_master_and_two_workers_scraped_by_service_name(
    sg_image: str, rig_image: str, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    env = {"RIG_TAG": rig_image.rsplit(":", 1)[1], "RIG_RUNS_DIR": str(runs), "RIG_SCENARIO": "smoke",
           "RIG_DURATION": "20", "RIG_WORKERS": "2"}
    with compose_stack(sg_image, ("--scale", "rig-worker=2"), env) as stack:
        client, project = stack["client"], stack["project"]
        services = _services(client, project)
        assert {name: len(cs) for name, cs in services.items()} == {
            "sync-gateway": 1, "prometheus": 1, "rig-master": 1, "rig-worker": 2}
        for container in services["rig-master"] + services["rig-worker"]:
            bindings = client.api.inspect_container(container.id)["NetworkSettings"]["Ports"] or {}
            assert not any(bindings.values()), f"{container.name} publishes {bindings}"

        # Prometheus finds the master by name and both workers behind `rig-worker`, and scrapes them.
        master = services["rig-master"][0]
        seen_up: set[str] = set()
        gateway_up = False
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (len(seen_up) < 3 or not gateway_up):
            seen_up |= {t["scrapeUrl"] for t in _targets(stack["prometheus"], "rig") if t["health"] == "up"}
            gateway_up = gateway_up or any(t["health"] == "up" for t in _targets(stack["prometheus"], "sync-gateway"))
            master.reload()
            if master.status == "exited":
                break
            time.sleep(1)
        why = (seen_up, _targets(stack["prometheus"], "rig"), master.logs().decode(errors="replace")[-2000:])
        assert gateway_up, _targets(stack["prometheus"], "sync-gateway")
        assert "http://rig-master:9464/metrics" in seen_up, why
        assert len(seen_up - {"http://rig-master:9464/metrics"}) == 2, why

        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            master.reload()
            if master.status == "exited":
                break
            time.sleep(2)
        logs = master.logs().decode(errors="replace")
        assert master.status == "exited", logs[-3000:]
        assert master.attrs["State"]["ExitCode"] == 0, logs[-3000:]

        query = httpx.get(stack["prometheus"] + "/api/v1/query", timeout=5,
                          params={"query": "max_over_time(rig_workers[10m])"}).json()
        assert query["data"]["result"][0]["value"][1] == "2", query
        query = httpx.get(stack["prometheus"] + "/api/v1/query", timeout=5,
                          params={"query": 'count(max_over_time(rig_run_info{worker=~"[0-9]+"}[10m]))'}).json()
        assert query["data"]["result"][0]["value"][1] == "2", query

    down = stack["down"]
    assert down.returncode == 0, f"docker-compose down failed:\n{down.stdout}\n{down.stderr}"
    assert _leftovers(stack["client"], stack["project"]) == []

    run = runs / "compose"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["processes"] == 2
    assert summary["devices"] == 30 and summary["devices_run_twice"] == []
    per_worker = [json.loads((run / f"worker-{i}.json").read_text()) for i in range(2)]
    assert all(w["devices"] > 0 for w in per_worker) and sum(w["devices"] for w in per_worker) == 30
    figures = summary["figures"]
    assert figures["wakes"] > 0, figures
    assert figures["errors"] == 0 and figures["final_sync_failures"] == 0, summary["final_sync_failures"]
    assert figures["leaks"] == 0 and figures["misses"] == 0, summary["verify_problems"]
    assert summary["gateway_counters"]["sgw_database_num_replications_total"] > 0
