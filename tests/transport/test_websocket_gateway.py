"""WebSocketTransport against the real Sync Gateway: handshake, auth, errors, framing, closing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import httpx
import pytest

from rig._errors import (
    AuthenticationRejected,
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    ReadTimeout,
    SubprotocolRejected,
)
from rig.gateway import AdminClient, LocalGateway
from rig.transport import BasicAuth, SessionAuth, Transport, WebSocketTransport

pytestmark = pytest.mark.gateway

PASSWORD = "pass-word"
GET_CHECKPOINT_PROPS = b"Profile\0getCheckpoint\0client\0cp-test\0"


def blipsync(gateway: LocalGateway, db: str) -> str:
    return f"{gateway.public_url}/{db}/_blipsync"  # http://: the transport maps it to ws://


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def frame_header(frame: bytes) -> tuple[int, int]:
    """(message number, flags) of a BLIP frame."""
    number, shift, pos = 0, 0, 0
    while True:
        byte = frame[pos]
        number |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return number, frame[pos]
        shift += 7


def blip_requests(count: int, props: bytes = GET_CHECKPOINT_PROPS, body: bytes = b"") -> list[bytes]:
    """MSG #1..#count, uncompressed, with the running CRC-32 of the outgoing direction."""
    frames, crc = [], 0
    for number in range(1, count + 1):
        payload = uvarint(len(props)) + props + body
        crc = zlib.crc32(payload, crc)
        frames.append(uvarint(number) + b"\x00" + payload + crc.to_bytes(4, "big"))
    return frames


@pytest.fixture
def alice(admin: AdminClient, db: str) -> BasicAuth:
    admin.put_user(db, "alice", password=PASSWORD, admin_channels=["alice"])
    return BasicAuth("alice", PASSWORD)


@pytest.fixture
def url(gateway: LocalGateway, db: str) -> str:
    return blipsync(gateway, db)


# Handshake and authentication ------------------------------------------------------------------
def test_basic_auth_negotiates_cbmobile_3_and_reports_the_correlation_id(url: str, alice: BasicAuth) -> None:
    with WebSocketTransport.connect(url, auth=alice, timeout=10) as transport:
        assert isinstance(transport, Transport)
        assert transport.subprotocol == "BLIP_3+CBMobile_3"
        assert transport.correlation_id
        assert transport.url.startswith("ws://")
        assert not transport.closed
    assert transport.closed


def test_the_clients_preference_order_wins(url: str, alice: BasicAuth) -> None:
    with WebSocketTransport.connect(url, auth=alice, subprotocols=["BLIP_3+CBMobile_4", "BLIP_3+CBMobile_3"]) as t:
        assert t.subprotocol == "BLIP_3+CBMobile_4"
    with WebSocketTransport.connect(url, auth=alice, subprotocols=["BLIP_3+CBMobile_9", "BLIP_3+CBMobile_2",
                                                                    "BLIP_3+CBMobile_4"]) as t:
        assert t.subprotocol == "BLIP_3+CBMobile_2"


def test_no_supported_subprotocol_is_a_500_naming_what_the_gateway_speaks(url: str, alice: BasicAuth) -> None:
    with pytest.raises(SubprotocolRejected) as info:
        WebSocketTransport.connect(url, auth=alice, subprotocols=["BLIP_3+CBMobile_9"])
    assert info.value.status == 500
    assert "I only speak" in info.value.body
    assert "BLIP_3+CBMobile_3" in info.value.body
    assert "BLIP_3+CBMobile_4" in info.value.body


def test_wrong_password_is_401(url: str, alice: BasicAuth) -> None:
    with pytest.raises(AuthenticationRejected) as info:
        WebSocketTransport.connect(url, auth=BasicAuth("alice", "not-it"))
    assert info.value.status == 401
    assert "Invalid login" in info.value.body


def test_no_credentials_with_guest_disabled_is_401(url: str) -> None:
    with pytest.raises(AuthenticationRejected) as info:
        WebSocketTransport.connect(url)
    assert info.value.status == 401
    assert "Login required" in info.value.body


def test_session_cookie_works_and_a_bogus_one_is_401(url: str, admin: AdminClient, db: str,
                                                     alice: BasicAuth) -> None:
    cookie_name, session_id = admin.create_session(db, "alice")
    with WebSocketTransport.connect(url, auth=SessionAuth(cookie_name, session_id)) as transport:
        assert transport.subprotocol == "BLIP_3+CBMobile_3"
    with pytest.raises(AuthenticationRejected) as info:
        WebSocketTransport.connect(url, auth=SessionAuth(cookie_name, "0" * 40))
    assert info.value.status == 401
    assert "Session Invalid" in info.value.body


def test_other_refusals_are_handshake_rejected_with_status_and_body(url: str, alice: BasicAuth,
                                                                     gateway: LocalGateway, db: str) -> None:
    # A foreign Origin (our own headers pass through untouched): 403.
    with pytest.raises(HandshakeRejected) as info:
        WebSocketTransport.connect(url, auth=alice, headers={"Origin": "http://elsewhere.example"})
    assert info.value.status == 403
    assert not isinstance(info.value, AuthenticationRejected | SubprotocolRejected)
    # A keyspace path: 400 "invalid database name" (the spec's appendix).
    with pytest.raises(HandshakeRejected) as info:
        WebSocketTransport.connect(f"{gateway.public_url}/{db}.s.c/_blipsync", auth=alice)
    assert info.value.status == 400
    assert "invalid database name" in info.value.body.lower()


def test_an_offline_database_is_503(url: str, alice: BasicAuth, gateway: LocalGateway, db: str) -> None:
    httpx.post(f"{gateway.admin_url}/{db}/_offline", timeout=10).raise_for_status()
    with pytest.raises(HandshakeRejected) as info:
        WebSocketTransport.connect(url, auth=alice)
    assert info.value.status == 503


def test_nothing_listening_is_connect_error(gateway: LocalGateway) -> None:
    from rig.gateway.local import free_port

    with pytest.raises(ConnectError):
        WebSocketTransport.connect(f"ws://127.0.0.1:{free_port()}/rig/_blipsync", timeout=5)
    with pytest.raises(ConnectError):
        WebSocketTransport.connect("ws://no-such-host.invalid/rig/_blipsync", timeout=5)


def test_bad_urls_are_value_errors() -> None:
    with pytest.raises(ValueError, match="URL"):
        WebSocketTransport.connect("ftp://127.0.0.1/db/_blipsync")
    with pytest.raises(ValueError, match="host"):
        WebSocketTransport.connect("ws:///db/_blipsync")


# Messages ------------------------------------------------------------------------------------
def test_blip_getcheckpoint_without_a_checkpoint_is_answered_err_404(url: str, alice: BasicAuth) -> None:
    with WebSocketTransport.connect(url, auth=alice) as transport:
        transport.send(blip_requests(1))
        frame = transport.recv(timeout=10)
        assert frame is not None
        assert frame[0] == 1            # message number 1 (a one-byte uvarint)
        assert frame[1] & 0x07 == 2     # ERR
        assert b"Error-Code\x00404\x00" in frame
        assert b"Error-Domain\x00HTTP\x00" in frame


def test_a_batch_goes_out_in_one_send_and_every_reply_comes_back(url: str, alice: BasicAuth) -> None:
    count = 300
    with WebSocketTransport.connect(url, auth=alice) as transport:
        transport.send(blip_requests(count))
        numbers = []
        for _ in range(count):
            frame = transport.recv(timeout=10)
            assert frame is not None
            number, flags = frame_header(frame)
            assert flags & 0x07 == 2
            numbers.append(number)
        assert sorted(numbers) == list(range(1, count + 1))  # replies may come in any order
        with pytest.raises(ReadTimeout):
            transport.recv(timeout=0.2)


def test_recv_times_out_on_an_idle_connection_and_stays_usable(url: str, alice: BasicAuth) -> None:
    with WebSocketTransport.connect(url, auth=alice) as transport:
        started = time.monotonic()
        with pytest.raises(ReadTimeout):
            transport.recv(timeout=0.2)
        assert 0.15 < time.monotonic() - started < 2
        transport.ping(b"still there?")  # the pong is swallowed
        transport.send(blip_requests(1))
        frame = transport.recv(timeout=10)
        assert frame is not None
        assert frame[0] == 1


def test_a_message_over_32_kib_makes_the_gateway_close_with_1009(url: str, alice: BasicAuth) -> None:
    with WebSocketTransport.connect(url, auth=alice) as transport:
        transport.send(blip_requests(1, body=b"x" * 40_000))
        assert transport.recv(timeout=10) is None
        assert transport.close_code == 1009
        assert transport.closed
        with pytest.raises(ConnectionClosed) as info:
            transport.send(blip_requests(1))
        assert info.value.code == 1009


def test_taking_the_database_offline_ends_the_connection(url: str, alice: BasicAuth, gateway: LocalGateway,
                                                         db: str) -> None:
    with WebSocketTransport.connect(url, auth=alice) as transport:
        transport.send(blip_requests(1))
        assert transport.recv(timeout=10) is not None
        httpx.post(f"{gateway.admin_url}/{db}/_offline", timeout=10).raise_for_status()
        assert transport.recv(timeout=10) is None
        # Either a close frame (1000) or, as observed, the TCP stream just ends (code None).
        assert transport.close_code in (None, 1000)
        assert transport.recv(timeout=None) is None


# Closing -------------------------------------------------------------------------------------
def test_close_is_clean_idempotent_and_recv_afterwards_returns_at_once(url: str, alice: BasicAuth) -> None:
    transport = WebSocketTransport.connect(url, auth=alice)
    started = time.monotonic()
    transport.close()
    assert time.monotonic() - started < 1.5  # the gateway answered our close frame
    assert transport.closed
    assert transport.close_code == 1000      # the gateway echoed our status
    transport.close()
    transport.close(1001, "again")
    started = time.monotonic()
    assert transport.recv() is None
    assert transport.recv(timeout=5) is None
    assert time.monotonic() - started < 0.5
    with pytest.raises(ConnectionClosed):
        transport.send([b"late"])


def test_close_from_another_thread_wakes_a_blocked_recv(url: str, alice: BasicAuth) -> None:
    transport = WebSocketTransport.connect(url, auth=alice)
    result: list[bytes | None] = []
    reader = threading.Thread(target=lambda: result.append(transport.recv(timeout=30)))
    reader.start()
    time.sleep(0.2)
    started = time.monotonic()
    transport.close(1001, "going away")
    reader.join(5)
    assert not reader.is_alive()
    assert result == [None]
    assert time.monotonic() - started < 2.5
    assert transport.closed


def test_send_from_another_thread_while_recv_blocks(url: str, alice: BasicAuth) -> None:
    with WebSocketTransport.connect(url, auth=alice) as transport:
        frames = blip_requests(20)

        def send_slowly() -> None:
            for frame in frames:
                transport.send([frame])
                time.sleep(0.01)

        sender = threading.Thread(target=send_slowly)
        sender.start()
        got = [transport.recv(timeout=10) for _ in frames]
        sender.join()
        assert all(frame is not None for frame in got)


# gevent (locust) -------------------------------------------------------------------------------
def test_works_under_gevent_monkey_patching(url: str, alice: BasicAuth) -> None:
    pytest.importorskip("gevent")
    script = textwrap.dedent(f"""
        from gevent import monkey
        monkey.patch_all()
        import sys, time, gevent
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_websocket_gateway import blip_requests
        from rig._errors import ReadTimeout
        from rig.transport import BasicAuth, WebSocketTransport

        def device(i):
            with WebSocketTransport.connect({url!r}, auth=BasicAuth("alice", {PASSWORD!r})) as t:
                started = time.monotonic()
                try:
                    t.recv(timeout=0.5)
                except ReadTimeout:
                    pass
                waited = time.monotonic() - started
                t.send(blip_requests(1))
                frame = t.recv(timeout=10)
                return waited, frame[0], frame[1] & 7

        started = time.monotonic()
        jobs = [gevent.spawn(device, i) for i in range(5)]
        gevent.joinall(jobs, timeout=30, raise_error=True)
        # five 0.5 s waits overlap: greenlets yield on the socket instead of blocking the process
        assert time.monotonic() - started < 2.4, time.monotonic() - started
        for job in jobs:
            waited, number, kind = job.value
            assert 0.4 < waited < 2 and (number, kind) == (1, 2), job.value

        # close() from another greenlet wakes a blocked recv()
        t = WebSocketTransport.connect({url!r}, auth=BasicAuth("alice", {PASSWORD!r}))
        reader = gevent.spawn(t.recv, 30)
        gevent.sleep(0.2)
        started = time.monotonic()
        t.close()
        assert reader.get(timeout=5) is None
        assert time.monotonic() - started < 2.5
        print("OK")
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("OK")
