"""The docker backend against a real Sync Gateway container: faults, persistence, labels, errors.

Skipped (by the `sg_image` fixture) only when no Docker-API engine answers at DOCKER_HOST.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from rig._errors import GatewayStartError, ReadTimeout
from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, DatabaseSpec
from rig.gateway.docker import LABEL_RUN, DockerGateway, remove_containers
from rig.replicator import EventKind, ReplicationEvent
from rig.replicator.session import ReplicationTimedOut

pytestmark = pytest.mark.gateway

DOCS = 3000


def _seed(admin: AdminClient, db: str, user: str, count: int, prefix: str = "d") -> None:
    admin.put_user(db, user, password=f"{user}-pw", admin_channels=[user])
    for start in range(0, count, 500):
        admin.bulk_docs(db, [{"_id": f"{prefix}-{i:05d}", "owner": user, "channels": [user], "n": i}
                             for i in range(start, min(count, start + 500))])


def test_a_paused_gateway_stalls_the_device_which_resumes_after_unpause(sg_image: str, tmp_path: Path) -> None:
    with DockerGateway(sg_image, tmp_path) as gw:
        admin = AdminClient(gw.admin_url, gw.metrics_url)
        _seed(admin, "rig", "ann", DOCS)
        device = VirtualDevice(f"{gw.public_url}/rig", Credentials("ann", "ann-pw"))
        paused_at: list[float] = []

        def pause_on_first_document(event: ReplicationEvent) -> None:
            if event.kind is EventKind.PULLED and not paused_at:
                gw.pause()  # mid-replication: the first revision is in, thousands are not
                paused_at.append(time.monotonic())

        with pytest.raises((ReplicationTimedOut, ReadTimeout)):
            device.sync(push=False, timeout=6, observer=pause_on_first_document)
        assert paused_at, "the replication never pulled a document before timing out"
        assert gw.status() == "paused"
        before = len(device.store)
        assert 0 < before < DOCS, "the pause did not land mid-replication"

        gw.unpause()
        stats = device.sync(push=False, timeout=60)
        assert len(device.store) == DOCS
        assert stats.docs_pulled >= DOCS - before
        assert {doc.doc_id for doc in device.store.docs.values()} == {f"d-{i:05d}" for i in range(DOCS)}
        admin.close()


def test_killed_container_restarts_with_its_rosmar_data_on_the_mounted_directory(
    sg_image: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with DockerGateway(sg_image, tmp_path / "run", data_dir=data) as gw:
        admin = AdminClient(gw.admin_url, gw.metrics_url)
        _seed(admin, "rig", "bob", 300)
        writer = VirtualDevice(f"{gw.public_url}/rig", Credentials("bob", "bob-pw"))
        for i in range(50):
            writer.store.put(f"w-{i}", {"owner": "bob", "channels": ["bob"], "i": i})
        assert writer.sync(pull=False, timeout=30).docs_pushed == 50
        container = gw.container_id

        gw.kill()
        assert gw.status() == "exited"
        assert any(data.rglob("*.sqlite3*")), "rosmar wrote nothing to the mounted directory"
        gw.start()
        assert gw.container_id == container, "start() after a kill must restart the same container"

        reader = VirtualDevice(f"{gw.public_url}/rig", Credentials("bob", "bob-pw"))
        reader.sync(push=False, timeout=60)
        assert len(reader.store) == 350
        assert admin.get_document("rig", "w-49")["i"] == 49
        admin.close()


def test_in_memory_data_do_not_survive_a_kill(sg_image: str, tmp_path: Path) -> None:
    # The contrast that makes the test above mean something: without the mount, data go.
    with DockerGateway(sg_image, tmp_path) as gw:
        admin = AdminClient(gw.admin_url, gw.metrics_url)
        admin.put_document("rig", "x", {"channels": []})
        gw.kill()
        gw.start()
        assert "x" not in {row["id"] for row in admin.all_docs("rig")}
        admin.close()


def test_ports_are_published_on_loopback_only_and_containers_carry_the_run_label(
    sg_image: str, tmp_path: Path
) -> None:
    with DockerGateway(sg_image, tmp_path, run_id=f"labeltest-{os.getpid()}") as gw:
        attrs = gw.client.api.inspect_container(gw.container_id)
        bindings = attrs["NetworkSettings"]["Ports"]
        published = {port: [b["HostIp"] for b in hosts] for port, hosts in bindings.items() if hosts}
        assert set(published) == {"4984/tcp", "4985/tcp", "4986/tcp"}
        assert all(ips == ["127.0.0.1"] for ips in published.values()), published
        assert attrs["Config"]["Labels"][LABEL_RUN] == gw.run_id
        assert gw.name in remove_containers(run_id=gw.run_id)
        assert gw.status() == "absent"


def test_leftovers_of_a_dead_process_are_reaped(sg_image: str, tmp_path: Path) -> None:
    gw = DockerGateway(sg_image, tmp_path, run_id=f"crashed-{os.getpid()}")
    gw.start()
    # A container left by a crashed run: made by a process that no longer exists.
    client = gw.client
    dead_pid = 2**22 + 12345  # above pid_max's default: never alive
    image = client.images.get(sg_image)
    orphan = client.containers.create(image.id, name=f"{gw.name}-orphan", command=["/nonexistent"],
                                      labels={"rig.managed": "1", "rig.run": gw.run_id, "rig.pid": str(dead_pid),
                                              "rig.host": socket.gethostname()})
    try:
        removed = remove_containers(orphans_only=True)
        assert orphan.name in removed
        assert gw.name not in removed, "a live process's container was reaped"
        assert gw.status() == "running"
    finally:
        gw.stop()
        remove_containers(run_id=gw.run_id)


def test_a_start_that_fails_shows_the_containers_last_log_lines(sg_image: str, tmp_path: Path) -> None:
    gw = DockerGateway(sg_image, tmp_path, databases=[DatabaseSpec("bad", extra={"no_such_option": 1})])
    try:
        with pytest.raises(GatewayStartError) as caught:
            gw.start()
        assert "last log lines" in str(caught.value)
        assert "no_such_option" in caught.value.log_tail
    finally:
        gw.stop()
