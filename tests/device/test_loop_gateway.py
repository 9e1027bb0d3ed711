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


def test_the_bench_loop_writes_for_every_device_on_its_own_schedule(gateway: GatewayController,
                                                                     admin: AdminClient) -> None:
    # `rig bench fleet --driver loop`: each device writes its own user's IDs at the set rate (a
    # late-bound closure once made the last device write for everyone: no conflicts, a cheaper workload).
    from rig.bench.fleet import _loop_fleet

    db = f"loopw_{uuid.uuid4().hex[:8]}"
    admin.create_database_from_spec(DatabaseSpec(db))
    url = f"{gateway.public_url}/{db}"
    devices = []
    for user in ("w-0", "w-1"):
        admin.put_user(db, user, password=f"{user}-pw", admin_channels=[user, "w-team-0"])
        devices += [VirtualDevice(url, Credentials(user, session=admin.create_session(db, user))) for _ in range(2)]
    stop = threading.Event()
    errors: list[str] = []
    thread = _loop_fleet(devices, stop, writes_from=time.monotonic(), writes_per_s=10, prefix="w", errors=errors)
    time.sleep(2.0)
    stop.set()
    thread.join(20)
    assert not thread.is_alive() and errors == []
    for device in devices:
        user = device.credentials.username
        own = [doc_id for doc_id in device.store.docs if doc_id.startswith(f"{user}.")]
        assert 8 <= len(own) <= 25, (user, sorted(own))
        other = "w-1" if user == "w-0" else "w-0"
        assert any(doc_id.startswith(f"{other}.") for doc_id in device.store.docs)  # pulled the team's


def test_the_loop_sends_couchbase_lites_heartbeat_on_a_silent_connection(gateway: GatewayController,
                                                                          admin: AdminClient) -> None:
    # The blocking transport pings inside `recv`; on the loop nobody calls `recv`, so the loop's timer must.
    db = f"loophb_{uuid.uuid4().hex[:8]}"
    admin.create_database_from_spec(DatabaseSpec(db))
    admin.put_user(db, "hb", password="hb-pw", admin_channels=["hb"])
    device = VirtualDevice(f"{gateway.public_url}/{db}", Credentials("hb", "hb-pw"), heartbeat=(0.6, 0.5))
    loop = DeviceLoop()
    loop.connect(device, continuous=True)
    session = device.session
    assert session is not None
    loop.run_until(time.monotonic() + 3.0)
    heartbeat = session.transport.heartbeat  # type: ignore[attr-defined]
    assert heartbeat.pings_sent >= 2, "no PING on a silent connection"
    assert session.transport.pongs_received >= 1  # type: ignore[attr-defined]
    assert loop.active == 1 and loop.errors == []  # answered: still replicating
    loop.stop()
    assert loop.errors == []


def test_a_loop_attempt_retries_on_couchbase_lites_schedule_and_a_cut_ends_it() -> None:
    # Nothing listens on the port: connection refused, transient, so 2 s then 4 s ... until cut.
    from rig.device.loop_sync import LoopSync, SyncHooks
    from rig.gateway.local import free_port

    device = VirtualDevice(f"http://127.0.0.1:{free_port()}/db", Credentials("x", "x-pw"), connect_timeout=2.0)
    waits = iter([0.3, 0.6, 1.2])
    failures: list[str] = []
    retries: list[int] = []
    done: list[tuple[bool, int, int, int]] = []
    def failed(exc: BaseException) -> float:
        failures.append(type(exc).__name__)
        return next(waits)

    hooks = SyncHooks(connected=lambda: None, failed=failed, retrying=lambda: retries.append(1),
                      done=lambda *result: done.append(result))
    loop = DeviceLoop()
    loop.start()
    attempt = LoopSync(loop, device, hooks, continuous=True, budget=None, observer=None)
    attempt.start()
    deadline = time.monotonic() + 10
    while len(failures) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    attempt.cut("test over")
    assert attempt.finished.wait(5)
    loop.shutdown()
    assert failures[:3] == ["ConnectError"] * 3 and len(retries) >= 2
    assert done == [(False, 0, 0, len(retries))]
    assert loop.errors == []


def test_a_cut_on_the_loop_kills_the_replication_mid_flight(gateway: GatewayController, admin: AdminClient) -> None:
    # What the lifecycle's budget timer does to an overrunning wake (CutSync): the connection goes at once.
    from rig.device.loop_sync import LoopSync, SyncHooks

    db = f"loopcut_{uuid.uuid4().hex[:8]}"
    admin.create_database_from_spec(DatabaseSpec(db))
    admin.put_user(db, "cut", password="cut-pw", admin_channels=["cut"])
    admin.bulk_docs(db, [{"_id": f"bulk-{i}", "channels": ["cut"], "text": "x" * 800} for i in range(4000)])
    admin.wait_for_changes_feed(db)
    device = VirtualDevice(f"{gateway.public_url}/{db}", Credentials("cut", "cut-pw"))
    done: list[tuple[bool, int, int, int]] = []
    hooks = SyncHooks(connected=lambda: None, failed=lambda exc: None, retrying=lambda: None,
                      done=lambda *result: done.append(result))
    loop = DeviceLoop()
    loop.start()
    attempt = LoopSync(loop, device, hooks, continuous=False, budget=None, observer=None)
    attempt.start()
    deadline = time.monotonic() + 20
    while len(device.store) < 100 and time.monotonic() < deadline:
        time.sleep(0.005)
    session = device.session
    attempt.cut("budget spent")
    assert attempt.finished.wait(5)
    held = len(device.store)
    time.sleep(0.5)
    loop.shutdown()
    assert done == [(False, 0, 0, 0)]
    assert 100 <= held < 4000 and len(device.store) == held  # cut mid-flight: nothing more arrived
    assert session is not None and session.transport.closed  # type: ignore[attr-defined]
    assert device.session is None and loop.errors == []
