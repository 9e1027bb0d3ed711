"""rig.device.loop: many devices' continuous replications on one selector loop, against the real gateway."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from rig.device import Credentials, VirtualDevice
from rig.device.loop import DeviceLoop
from rig.gateway import AdminClient, DatabaseSpec
from rig.gateway.base import GatewayController

pytestmark = [pytest.mark.gateway]


def test_one_loop_carries_every_device_both_ways_and_stops_cleanly(gateway: GatewayController,
                                                                    admin: AdminClient) -> None:
    db = f"loop_{uuid.uuid4().hex[:8]}"
    admin.create_database_from_spec(DatabaseSpec(db))
    admin.put_user(db, "team", password="team-pw", admin_channels=["team"])
    url = f"{gateway.public_url}/{db}"
    devices = [VirtualDevice(url, Credentials("team", session=admin.create_session(db, "team"))) for _ in range(6)]
    loop = DeviceLoop()
    for device in devices:
        loop.connect(device, continuous=True)
    assert loop.active == 6
    start = time.monotonic()
    for i, device in enumerate(devices):
        def write(device: VirtualDevice = device, i: int = i) -> None:
            device.store.put(f"doc-{i}", {"channels": ["team"], "by": i})
            device.local_changed()
        loop.call_at(start + 0.2 + 0.05 * i, write)

    def everyone_has_everything() -> bool:
        return all(device.store.get(f"doc-{i}") is not None for device in devices for i in range(6))

    threads_before = threading.active_count()
    loop.run_until(start + 60, done=everyone_has_everything)
    assert everyone_has_everything(), [sorted(d.store.docs) for d in devices]
    assert threading.active_count() == threads_before  # no thread per replication
    assert all(not doc.pending for device in devices for doc in device.store.docs.values())
    loop.stop()
    assert loop.errors == []
    assert loop.active == 0 and all(device.session is None for device in devices)
