"""rig.device.loop_open: WebSockets opened on the DeviceLoop itself (no thread), against the real gateway."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from rig._errors import AuthenticationRejected, ConnectError
from rig.device import Credentials, VirtualDevice
from rig.device.loop import DeviceLoop, ReplicationCut
from rig.device.loop_open import LoopOpen
from rig.gateway import AdminClient, DatabaseSpec
from rig.gateway.base import GatewayController
from rig.gateway.local import free_port
from rig.transport.opening import NonBlockingOpen, plan_opening

pytestmark = [pytest.mark.gateway]


def _db(admin: AdminClient, prefix: str) -> str:
    db = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin.create_database_from_spec(DatabaseSpec(db))
    return db


def test_one_shot_replications_opened_on_the_loop_catch_up_with_no_thread(gateway: GatewayController,
                                                                           admin: AdminClient) -> None:
    db = _db(admin, "lopen")
    url = f"{gateway.public_url}/{db}"
    devices = []
    for i in range(12):
        user = f"u{i}"
        admin.put_user(db, user, admin_channels=[user], password=f"{user}-pw")
        admin.bulk_docs(db, [{"_id": f"{user}.{k}", "channels": [user]} for k in range(3)])
        devices.append(VirtualDevice(url, Credentials(user, session=admin.create_session(db, user))))
    devices[0].store.put("u0.local", {"channels": ["u0"]})  # and one to push
    admin.wait_for_changes_feed(db)
    loop = DeviceLoop()
    ended: dict[str, BaseException | None] = {}
    def ender(name: str) -> Callable[[BaseException | None], None]:
        return lambda error: ended.__setitem__(name, error)

    opens = [LoopOpen(loop, d, ender(d.name)) for d in devices]
    threads_before = threading.active_count()
    for one in opens:
        one.start()
    loop.run_until(time.monotonic() + 60, done=lambda: len(ended) == len(devices))
    assert threading.active_count() == threads_before  # no connect thread
    assert ended == {d.name: None for d in devices}
    for i, device in enumerate(devices):
        assert all(device.store.get(f"u{i}.{k}") is not None for k in range(3)), sorted(device.store.docs)
        assert device.session is None
    assert admin.get_document(db, "u0.local")["_id"] == "u0.local"
    loop.stop()
    assert loop.errors == []


def test_a_refused_open_a_wrong_credential_and_a_cut_mid_open_each_end_once(gateway: GatewayController,
                                                                               admin: AdminClient) -> None:
    db = _db(admin, "lopenf")
    admin.put_user(db, "ok", password="ok-pw", admin_channels=["ok"])
    loop = DeviceLoop()
    ended: dict[str, list[BaseException | None]] = {}

    def start(name: str, device: VirtualDevice) -> LoopOpen:
        one = LoopOpen(loop, device, lambda error: ended.setdefault(name, []).append(error))
        one.start()
        return one

    start("refused", VirtualDevice(f"http://127.0.0.1:{free_port()}/db", Credentials("x", "x-pw")))
    start("wrong", VirtualDevice(f"{gateway.public_url}/{db}", Credentials("ok", "not-the-pw")))
    cut = start("cut", VirtualDevice(f"{gateway.public_url}/{db}", Credentials("ok", "ok-pw")))
    assert cut.opening
    cut.cut("app killed")  # before the loop ran: mid-open
    loop.run_until(time.monotonic() + 20, done=lambda: len(ended) == 3)
    assert isinstance(ended["refused"][0], ConnectError) and len(ended["refused"]) == 1
    assert isinstance(ended["wrong"][0], AuthenticationRejected) and len(ended["wrong"]) == 1
    assert isinstance(ended["cut"][0], ReplicationCut) and len(ended["cut"]) == 1
    cut.cut("again")  # a second cut changes nothing
    assert len(ended["cut"]) == 1
    prepared = LoopOpen(loop, VirtualDevice(f"{gateway.public_url}/{db}", Credentials("ok", "ok-pw")),
                        lambda error: ended.setdefault("prepared", []).append(error))
    prepared.prepare()  # socket and request made, nothing sent: a bench's storm before the push
    prepared.cut("killed before the push")
    assert isinstance(ended["prepared"][0], ReplicationCut) and len(ended["prepared"]) == 1
    loop.stop()


def test_an_open_that_gets_no_answer_times_out_at_the_connect_timeout() -> None:
    # A listener that accepts TCP (the kernel does, from its backlog) but never answers the upgrade.
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    loop = DeviceLoop()
    ended: list[BaseException | None] = []
    device = VirtualDevice(f"http://127.0.0.1:{port}/db", Credentials("x", "x-pw"), connect_timeout=0.5)
    LoopOpen(loop, device, ended.append).start()
    start = time.monotonic()
    loop.run_until(start + 10, done=lambda: bool(ended))
    server.close()
    assert len(ended) == 1 and isinstance(ended[0], ConnectError) and ended[0].timed_out
    assert 0.4 <= time.monotonic() - start < 5
    loop.stop()


def test_the_non_blocking_open_refuses_tls_urls() -> None:
    with pytest.raises(ValueError, match="plain ws"):
        NonBlockingOpen(plan_opening("wss://example.invalid/db/_blipsync", subprotocols="x", auth=None))
