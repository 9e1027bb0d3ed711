"""Reconnects as Couchbase Lite makes them, against the real Sync Gateway (issue 13, item 1).

- The gateway killed -9 three times in a row: each reconnect resets the retry count, so the
  fourth drop waits 2 s again (the rig before waited 2**7 s and more).
- The gateway closing the WebSocket normally (1000) stops the device: no retry.
- A BLIP error 503 (the user deleted under a live replication: SG's refreshUser fails) makes
  the device close with 4001 and reconnect after 2 s.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from rig.device import Credentials, VirtualDevice
from rig.device.lifecycle import AppState
from rig.device.profile import Foreground as Foreground_
from rig.device.profile import LogNormal
from rig.device.runner import DeviceRunner
from rig.faults.link import LinkQuality
from rig.faults.proxies import upstream_of
from rig.faults.proxy import LinkProxy
from rig.gateway import AdminClient, DatabaseSpec, LocalGateway
from tests.device.conftest import quiet_ios

pytestmark = pytest.mark.gateway

PASSWORD = "ann-pw"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `condition` every 50 ms; the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)
    return time.monotonic()


def retried_beyond(runner: DeviceRunner, count: int) -> bool:
    return len(runner.retry_log) > count


def connected_beyond(runner: DeviceRunner, count: int) -> bool:
    return runner.connects > count


class Foreground:
    """One device in the foreground (continuous push and pull) in its own thread."""

    def __init__(self, url: str, name: str, *, via: tuple[str, int] | None = None, connected: bool = True) -> None:
        device = VirtualDevice(url, Credentials("ann", PASSWORD), name=name, connect_timeout=5, via=via)
        self.connected = connected
        profile = quiet_ios()
        # In the foreground for the whole test, and no edits but the test's own.
        profile = replace(profile, foreground=Foreground_(session_minutes=LogNormal(10_000.0, 10_000.0),
                                                          edits_per_minute=0.0))
        self.runner = DeviceRunner(device, profile, rng=random.Random(3))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.runner.run, args=(self.stop,),
                                       kwargs={"duration": 120.0, "start": AppState.FOREGROUND}, daemon=True)

    def __enter__(self) -> DeviceRunner:
        self.thread.start()
        if self.connected:
            wait_for(lambda: self.runner.connects >= 1 and self.runner.device.session is not None, 20, "connected")
        return self.runner

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(20)


@pytest.fixture
def killable(sg_binary: Path, tmp_path: Path) -> Iterator[tuple[LocalGateway, AdminClient]]:
    """A gateway of this test's own (on-disk rosmar: the user survives a kill)."""
    gw = LocalGateway(sg_binary, tmp_path / "gw", databases=[DatabaseSpec("rig")], data_dir=tmp_path / "data")
    gw.start()
    admin = AdminClient(gw.admin_url, gw.metrics_url)
    admin.put_user("rig", "ann", password=PASSWORD, admin_channels=["ann"])
    try:
        yield gw, admin
    finally:
        admin.close()
        gw.stop()


def test_three_kills_in_a_row_then_the_fourth_reconnect_waits_two_seconds(
        killable: tuple[LocalGateway, AdminClient]) -> None:
    gw, _admin = killable
    with Foreground(f"{gw.public_url}/rig", "ann-phone") as runner:
        reconnect_s = []
        for outage in range(4):
            connects, retries = runner.connects, len(runner.retry_log)
            gw.kill()
            wait_for(partial(retried_beyond, runner, retries), 10, f"the device saw kill #{outage + 1}")
            dropped = runner.retry_log[retries]
            gw.start()
            back = wait_for(partial(connected_beyond, runner, connects), 60, f"reconnected after kill #{outage + 1}")
            reconnect_s.append(back - time.monotonic() + time.time() - dropped.at)
            # Every outage starts the count again: its first retry is attempt 1, after 2 s.
            assert (dropped.attempt, dropped.delay_s, dropped.error) == (1, 2.0, "WebSocket 1006"), runner.retry_log
        waits = [(r.attempt, r.delay_s) for r in runner.retry_log]
        assert max(r.delay_s for r in runner.retry_log) <= 8.0, waits
        # The fourth reconnect: 2 s after the drop, or 2 + 4 s when the gateway was not up yet at 2 s.
        assert reconnect_s[3] < 2.0 + 4.0 + 3.0, (reconnect_s, waits)
        assert runner.errors and not runner.protocol_errors


def test_a_normal_close_by_the_gateway_stops_the_device(gateway: LocalGateway, admin: AdminClient, db: str) -> None:
    """go-blip closes with 1000 when its receiver stops on a frame it cannot parse (here a 1-byte frame
    the test slips in); LiteCore takes a close it did not start as 1001, not transient: it stops."""
    admin.put_user(db, "ann", password=PASSWORD, admin_channels=["ann"])
    with Foreground(f"{gateway.public_url}/{db}", "ann-tablet") as runner:
        session = runner.device.session
        assert session is not None
        session.transport.send([b"\x01"])  # "Illegally short frame": go-blip's receiver stops
        wait_for(lambda: bool(runner.errors), 10, "the device saw the close")
        assert "code=1000" in runner.errors[0], runner.errors
        time.sleep(5.0)  # a retry would have come after 2 s
        assert runner.retry_log == [] and runner.connects == 1, (runner.retry_log, runner.errors)
        assert runner.device.session is None


def test_a_blip_503_makes_the_device_close_with_4001_and_reconnect(gateway: LocalGateway, admin: AdminClient,
                                                                    db: str) -> None:
    """SG answers 503 when a user changed under a live connection and cannot be reloaded (db/blip_handler.go
    refreshUser, on subChanges, rev, getCollections ...). A slow link (1.5 s round trip) leaves time to
    update then delete the user between the handshake and the device's subChanges."""
    admin.put_user(db, "ann", password=PASSWORD, admin_channels=["ann"])
    slow = LinkQuality("slow", rtt_s=1.5, down_bps=0, up_bps=0)
    with LinkProxy(upstream_of(gateway.public_url), slow) as proxy, \
            Foreground(f"{gateway.public_url}/{db}", "ann-laptop", via=proxy.address, connected=False) as runner:
        wait_for(lambda: runner.connects >= 1, 20, "the WebSocket is open")
        admin.put_user(db, "ann", password=PASSWORD, admin_channels=["ann", "news"])  # the user changed ...
        admin.delete_user(db, "ann")  # ... and is gone when SG reloads it for subChanges: HTTP 503
        wait_for(lambda: bool(runner.retry_log), 15, "the device scheduled a retry after the 503")
        admin.put_user(db, "ann", password=PASSWORD, admin_channels=["ann"])  # back before the retry
        assert "RemoteUnavailable" in runner.errors[0] and "subChanges with HTTP 503" in runner.errors[0], \
            runner.errors
        first = runner.retry_log[0]
        assert (first.attempt, first.delay_s, first.error) == (1, 2.0, "WebSocket 4001")
        wait_for(lambda: runner.connects >= 2, 15, "reconnected after the 503")
        runner.device.store.put("ann.note", {"channels": ["ann"], "n": 1})
        runner.device.local_changed()
        wait_for(lambda: "ann.note" in {row["id"] for row in admin.all_docs(db, channels=False)}, 20,
                 "a write pushed over the new connection")
        assert len(runner.retry_log) == 1, runner.retry_log
