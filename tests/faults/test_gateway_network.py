"""The gateway's container taken off its network and put back (docker backend, the engine's network API).

Skipped (by `sg_image`) only where no Docker-API engine answers at DOCKER_HOST.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from rig._errors import RigError
from rig.device import Credentials, VirtualDevice
from rig.device.lifecycle import AppState
from rig.device.runner import DeviceRunner
from rig.gateway import AdminClient
from rig.gateway.docker import DockerGateway
from rig.replicator.retry import is_transient
from rig.replicator.session import ReplicationTimedOut
from tests.device.conftest import quiet_ios

pytestmark = pytest.mark.gateway


def test_a_disconnected_gateway_gives_devices_errors_and_they_sync_after_reconnect(
    sg_image: str, tmp_path: Path
) -> None:
    with DockerGateway(sg_image, tmp_path) as gw:
        admin = AdminClient(gw.admin_url, gw.metrics_url)
        admin.put_user("rig", "ann", password="ann-pw", admin_channels=["ann"])
        admin.bulk_docs("rig", [{"_id": f"n-{i:03d}", "channels": ["ann"], "n": i} for i in range(200)])
        admin.wait_for_changes_feed("rig")
        url = f"{gw.public_url}/rig"
        early = VirtualDevice(url, Credentials("ann", "ann-pw"), connect_timeout=3)
        assert early.sync(push=False, timeout=30).docs_pulled == 200

        networks = gw.disconnect_network()
        assert networks
        assert gw.is_running()  # the gateway runs on; only its network is gone
        try:
            started = time.monotonic()
            with pytest.raises(RigError) as caught:
                VirtualDevice(url, Credentials("ann", "ann-pw"), connect_timeout=3).sync(push=False, timeout=5)
            assert time.monotonic() - started < 15
            error = caught.value
            assert is_transient(error) or isinstance(error, ReplicationTimedOut), repr(error)

            # A device in the foreground through the outage: errors, Couchbase Lite's backoff, then in sync.
            late = DeviceRunner(VirtualDevice(url, Credentials("ann", "ann-pw"), connect_timeout=2, name="late"),
                                quiet_ios(), rng=random.Random(5))
            stop = threading.Event()
            thread = threading.Thread(target=late.run, args=(stop,),
                                      kwargs={"duration": 60.0, "start": AppState.FOREGROUND})
            thread.start()
            deadline = time.monotonic() + 15
            while not late.errors and time.monotonic() < deadline:
                time.sleep(0.1)
            assert late.errors, "no error while the gateway was unreachable"
            assert late.device.store.docs == {}
        finally:
            gw.reconnect_network()
        try:
            deadline = time.monotonic() + 40
            while len(late.device.store.docs) < 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(late.device.store.docs) == 200
            assert late.retries >= 1
        finally:
            stop.set()
            thread.join(20)
        assert not thread.is_alive()
        assert early.sync(push=False, timeout=30).docs_pulled == 0  # and the first device is in step
