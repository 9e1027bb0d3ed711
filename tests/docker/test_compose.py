"""docker-compose.yml with the test override: Sync Gateway and Prometheus up, scraped by service name; down cleans.

Skipped (by the `sg_image` fixture) only when no Docker-API engine answers at DOCKER_HOST;
a missing docker-compose or Prometheus binary is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from rig._paths import project_root
from rig.gateway.image import docker_client, prometheus_image
from rig.gateway.local import free_port

pytestmark = pytest.mark.gateway


def _compose(project: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is not installed (.ci/containers.sh installs it)"
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


@contextmanager
def compose_stack(sg_image: str) -> Iterator[dict[str, Any]]:
    """The compose stack up under a unique project name and free loopback ports; always taken down."""
    client = docker_client()
    prometheus_image(client=client)
    project = f"rigtest{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "RIG_SG_PUBLIC_PORT": str(free_port()), "RIG_PROMETHEUS_PORT": str(free_port()),
           "RIG_SG_LOCAL_TAG": sg_image.rsplit(":", 1)[1]}
    info = {"project": project, "env": env, "client": client,
            "public": f"http://127.0.0.1:{env['RIG_SG_PUBLIC_PORT']}",
            "prometheus": f"http://127.0.0.1:{env['RIG_PROMETHEUS_PORT']}"}
    up = _compose(project, env, "up", "-d")
    try:
        assert up.returncode == 0, f"docker-compose up failed:\n{up.stdout}\n{up.stderr}"
        yield info
    finally:
        down = _compose(project, env, "down", "-v", "--remove-orphans")
        info["down"] = down


def _sync_gateway_target(prometheus: str) -> dict[str, Any] | None:
    try:
        targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    for target in targets:
        if target["labels"].get("job") == "sync-gateway":
            found: dict[str, Any] = target
            return found
    return None


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
