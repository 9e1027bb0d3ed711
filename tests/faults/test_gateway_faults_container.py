"""The gateway's container killed -9 and paused in the middle of a 100-device fleet (docker backend).

rosmar on a mounted host directory, so the databases survive the kill; the container is
started again by the engine. Skipped (by `sg_image`) only where no Docker-API engine answers.
"""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from rig._paths import project_root
from rig.device.fleet import Fleet
from rig.device.profile import LogNormal, load_fleet
from rig.faults.gateway import Fault, FaultInjector
from rig.gateway import AdminClient, DatabaseSpec
from rig.gateway.docker import DockerGateway
from rig.load.durability import gateway_trees
from rig.oracle.acknowledged import AckedWrite, check_acknowledged

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

TIME_SCALE = 60.0
DURATION_S = 30.0


def test_container_killed_and_paused_mid_run_loses_duplicates_and_leaks_nothing(
    sg_image: str, tmp_path: Path
) -> None:
    spec = load_fleet(project_root() / "devices" / "fleets" / "demo.toml")
    # Frequent refreshes so that many wakes straddle the outages (no push service here:
    # the container cannot reach a webhook receiver bound to the host's loopback).
    assignment = [(user, replace(profile, refresh=replace(profile.refresh, gap_minutes=LogNormal(10.0, 20.0),
                                                          floor_minutes=5.0)))
                  for user, profile in spec.assign(random.Random(9))[:100]]
    with DockerGateway(sg_image, tmp_path / "run", databases=[DatabaseSpec("rig")],
                       data_dir=tmp_path / "data") as gw:
        admin = AdminClient(gw.admin_url, gw.metrics_url)
        fleet = Fleet(gw.public_url, admin, "rig", assignment, time_scale=TIME_SCALE, seed=4)
        assert len(fleet.runners) == 100
        injector = FaultInjector(gw, [Fault("kill", 8.0, 3.0), Fault("pause", 20.0, 3.0)], log=lambda s: None)
        runs = threading.Thread(target=fleet.run, args=(DURATION_S,))
        runs.start()
        injector.start()
        runs.join(DURATION_S + 90)
        outages = injector.stop()

        assert [o.fault for o in outages] == ["kill@8+3", "pause@20+3"]
        assert all(o.error is None for o in outages), outages
        assert gw.status() == "running"
        assert sum(r.retries for r in fleet.runners) > 0, "no device retried: the outages went unnoticed"

        assert fleet.final_sync() == []
        assert fleet.verify() == []
        acked = [AckedWrite(r.device.name, doc_id, rev) for r in fleet.runners for doc_id, rev in r.acknowledged]
        report = check_acknowledged(acked, gateway_trees(admin, "rig", {w.doc_id for w in acked}))
        assert report.checked > 20, "too few acknowledged writes to mean anything"
        assert report.lost == [] and report.duplicated == [], report.as_dict()
        admin.close()
