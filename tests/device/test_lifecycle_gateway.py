"""Devices that live like phone apps, against the real Sync Gateway and a real webhook."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from rig.device import Credentials, VirtualDevice
from rig.device.lifecycle import AppState, Trigger
from rig.device.loop import DeviceLoop
from rig.device.profile import DeviceProfile, LogNormal
from rig.device.runner import DeviceRunner
from rig.gateway import AdminClient, LocalGateway, PublicClient
from rig.push import PushService, PushTarget
from rig.replicator import EventKind, ReplicationEvent
from tests.device.conftest import quiet_ios

pytestmark = pytest.mark.gateway


def _wait(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture(params=["thread", "loop"])
def loop(request: pytest.FixtureRequest) -> Iterator[DeviceLoop | None]:
    """Each replication on a helper thread (`rig run`'s default, as greenlets), or all on one DeviceLoop."""
    if request.param == "thread":
        yield None
        return
    device_loop = DeviceLoop()
    device_loop.start()
    yield device_loop
    device_loop.shutdown()
    assert device_loop.errors == []


@contextmanager
def running(runner: DeviceRunner, *, start: AppState, duration: float = 60.0) -> Iterator[DeviceRunner]:
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), kwargs={"duration": duration, "start": start})
    thread.start()
    try:
        yield runner
    finally:
        stop.set()
        thread.join(20)
        assert not thread.is_alive()


def _device(gateway: LocalGateway, admin: AdminClient, db: str, user: str, channels: list[str],
            profile: DeviceProfile, push: PushService | None = None, scale: float = 1.0,
            loop: DeviceLoop | None = None) -> DeviceRunner:
    admin.put_user(db, user, password=f"{user}-pw", admin_channels=channels)
    device = VirtualDevice(f"{gateway.public_url}/{db}", Credentials(user, f"{user}-pw"), name=f"{user}-phone")
    runner = DeviceRunner(device, profile, rng=random.Random(11), time_scale=scale, loop=loop)
    if push is not None:
        push.register(PushTarget(device.name, user, runner.deliver_push, runner.accepts_push), profile.push)
    return runner


def test_silent_push_wakes_only_the_devices_of_users_who_may_read(
    gateway: LocalGateway, admin: AdminClient, push_db: tuple[str, PushService], loop: DeviceLoop | None
) -> None:
    db, push = push_db
    profile = quiet_ios()
    reader = _device(gateway, admin, db, "bea", ["bea", "team"], profile, push, loop=loop)
    outsider = _device(gateway, admin, db, "cid", ["cid"], profile, push, loop=loop)
    admin.put_user(db, "ann", password="ann-pw", admin_channels=["ann", "team"])
    with running(reader, start=AppState.SUSPENDED), running(outsider, start=AppState.SUSPENDED):
        PublicClient(gateway.public_url, db, username="ann", password="ann-pw").put_document(
            "team-note", {"owner": "ann", "channels": ["team"], "written_at": time.time()})
        assert _wait(lambda: reader.device.store.get("team-note") is not None)
        assert _wait(lambda: reader.lifecycle.state is AppState.SUSPENDED)
        wake = reader.lifecycle.wakes[-1]
        assert (wake.trigger, wake.caught_up, wake.overrun) == (Trigger.PUSH, True, False)
        assert wake.ended is not None and wake.ended - wake.started < profile.push.budget_seconds
        time.sleep(0.5)
    assert outsider.lifecycle.wakes == []
    assert outsider.device.store.get("team-note") is None
    assert push.counters.received >= 1
    assert push.counters.delivered >= 1
    measured = [w for w in reader.measurements.wakes if w.trigger == "push"]
    assert measured and measured[0].push_delay_s is not None and measured[0].docs_pulled == 1
    arrivals = reader.measurements.arrivals
    assert [a.phase for a in arrivals] == ["after_wake"]


def test_refresh_wakes_on_the_scaled_schedule_and_overruns_resume_from_the_checkpoint(
    gateway: LocalGateway, admin: AdminClient, db: str, loop: DeviceLoop | None
) -> None:
    admin.bulk_docs(db, [{"_id": f"bulk-{i}", "channels": ["dee"], "text": "x" * 800} for i in range(4000)])
    admin.wait_for_changes_feed(db)
    base = quiet_ios()
    # Refresh every 15 minutes, compressed 300x: every 3 s. A 0.6 s budget cannot pull 4,000 documents.
    profile = replace(base, refresh=replace(base.refresh, enabled=True, floor_minutes=15.0,
                                            gap_minutes=LogNormal(15.0, 15.0), budget_seconds=0.6,
                                            overrun_penalty=1.0))
    runner = _device(gateway, admin, db, "dee", ["dee"], profile, scale=300.0, loop=loop)
    runner.device.checkpoint_interval = 0.1
    pulled: dict[str, int] = {}

    def count(event: ReplicationEvent) -> None:
        if event.kind is EventKind.PULLED:
            pulled[event.doc_id] = pulled.get(event.doc_id, 0) + 1

    runner.observer = count
    started = time.monotonic()
    with running(runner, start=AppState.SUSPENDED, duration=90):
        assert _wait(lambda: len(runner.device.store) == 4000, timeout=80)
        assert _wait(lambda: runner.lifecycle.state is not AppState.AWAKE)
    wakes = runner.lifecycle.wakes
    assert all(w.trigger is Trigger.REFRESH for w in wakes)
    first_gap = wakes[0].started - started
    assert 2.5 <= first_gap <= 4.5, first_gap  # 15 min / 300, as scheduled
    assert any(w.overrun for w in wakes), "a 0.6 s budget should have been overrun"
    assert runner.lifecycle.transitions.count  # states were recorded
    assert any(state is AppState.TERMINATED for _, state in runner.lifecycle.transitions)
    assert wakes[-1].caught_up or len(runner.device.store) == 4000
    assert len(pulled) == 4000
    assert max(pulled.values()) == 1, "a document was pulled twice"
    overrun_records = [w for w in runner.measurements.wakes if w.overrun]
    assert overrun_records and all(w.wake_to_caught_up_s is None for w in overrun_records)


def test_force_quit_app_gets_no_push_until_relaunched(
    gateway: LocalGateway, admin: AdminClient, push_db: tuple[str, PushService]
) -> None:
    db, push = push_db
    runner = _device(gateway, admin, db, "eli", ["eli"], quiet_ios(), push)
    writer = PublicClient(gateway.public_url, db, username="eli", password="eli-pw")
    with running(runner, start=AppState.SUSPENDED):
        runner.force_quit()
        assert _wait(lambda: runner.lifecycle.state is AppState.FORCE_QUIT)
        writer.put_document("while-quit", {"owner": "eli", "channels": ["eli"]})
        assert _wait(lambda: push.counters.refused >= 1)
        time.sleep(0.5)
        assert runner.lifecycle.wakes == []
        assert runner.device.store.get("while-quit") is None
        runner.open_app()
        assert _wait(lambda: runner.device.store.get("while-quit") is not None)
        assert runner.lifecycle.state is AppState.FOREGROUND
        assert runner.lifecycle.wakes[-1].trigger is Trigger.FOREGROUND
