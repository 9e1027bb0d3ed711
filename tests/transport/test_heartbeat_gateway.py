"""Couchbase Lite's WebSocket heartbeat against the real Sync Gateway (test-sized intervals).

SG never pings but its WebSocket library answers a PING; a frozen gateway (SIGSTOP) does
not, and the device drops the connection after the pong timeout with a transient error.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rig._errors import HeartbeatTimeout, ReadTimeout
from rig.gateway import AdminClient, DatabaseSpec, LocalGateway
from rig.replicator.retry import Backoff, RetryPolicy, is_transient
from rig.transport import BasicAuth, WebSocketTransport

pytestmark = pytest.mark.gateway


def idle_reads(transport: WebSocketTransport, seconds: float) -> None:
    """Read as the replicator's driver does (0.25 s polls) while the gateway has nothing to say."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            frame = transport.recv(timeout=0.25)
        except ReadTimeout:
            continue
        assert frame is not None, "the gateway closed the connection"


def test_an_idle_connection_pings_and_the_gateway_answers(gateway: LocalGateway, admin: AdminClient,
                                                          db: str) -> None:
    admin.put_user(db, "hb", password="hb-pw", admin_channels=["hb"])
    with WebSocketTransport.connect(f"{gateway.public_url}/{db}/_blipsync", auth=BasicAuth("hb", "hb-pw"),
                                    heartbeat=(0.4, 2.0)) as transport:
        idle_reads(transport, 2.2)
        assert transport.heartbeat is not None
        assert transport.heartbeat.pings_sent >= 3
        assert transport.pongs_received >= transport.heartbeat.pings_sent - 1  # the last may be on its way
        assert not transport.closed


def test_the_default_heartbeat_is_couchbase_lites() -> None:
    from rig.device import Credentials, VirtualDevice

    assert VirtualDevice("http://127.0.0.1:1/db", Credentials("u", "p")).heartbeat == (300.0, 20.0)


def test_a_frozen_gateway_gets_no_pong_and_the_device_drops_the_connection_to_retry(
        sg_binary: Path, tmp_path: Path) -> None:
    gw = LocalGateway(sg_binary, tmp_path / "gw", databases=[DatabaseSpec("rig")])
    gw.start()
    try:
        AdminClient(gw.admin_url).put_user("rig", "hb", password="hb-pw", admin_channels=["hb"])
        transport = WebSocketTransport.connect(f"{gw.public_url}/rig/_blipsync", auth=BasicAuth("hb", "hb-pw"),
                                               heartbeat=(0.5, 1.0))
        idle_reads(transport, 1.2)  # pings answered while the gateway runs
        assert transport.pongs_received >= 1
        gw.pause()
        frozen = time.monotonic()
        with pytest.raises(HeartbeatTimeout) as caught:
            idle_reads(transport, 10.0)
        took = time.monotonic() - frozen
        assert 1.0 <= took <= 0.5 + 1.0 + 1.5, took  # at most an interval, then the pong timeout
        assert transport.closed
        assert is_transient(caught.value) and Backoff(RetryPolicy()).failed(caught.value) == 2.0
    finally:
        gw.stop()
