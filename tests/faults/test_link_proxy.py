"""Device network faults against the real Sync Gateway: shaped links, cuts mid-replication, corrupt bytes.

Every device talks to the real gateway; the loopback proxy of `rig.faults.proxy` sits
between them and only delays, throttles, cuts or spoils the bytes.
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from rig._errors import ConnectionClosed, RemoteBlipError, WebSocketProtocolError
from rig._paths import project_root
from rig.device import Credentials, VirtualDevice
from rig.device.fleet import Fleet
from rig.device.lifecycle import AppState
from rig.device.profile import load_fleet
from rig.device.runner import DeviceRunner
from rig.faults.link import PRESETS, LinkQuality
from rig.faults.proxies import LinkProxies, upstream_of
from rig.faults.proxy import Corruption, CutPlan, LinkProxy
from rig.gateway import AdminClient, GatewayController
from rig.replicator import EventKind, ReplicationEvent
from rig.replicator.retry import is_transient
from tests.device.conftest import quiet_ios

pytestmark = pytest.mark.gateway

DOC_BYTES = 1500


def _seed(admin: AdminClient, db: str, user: str, count: int) -> None:
    """`count` documents of ~1.5 KB of incompressible text in `user`'s channel, and the user."""
    admin.put_user(db, user, password=f"{user}-pw", admin_channels=[user])
    rng = random.Random(count)
    docs = [{"_id": f"{user}.{i:04d}", "channels": [user], "owner": user,
             "blob": base64.b64encode(rng.randbytes(DOC_BYTES * 3 // 4)).decode()} for i in range(count)]
    for start in range(0, count, 200):
        admin.bulk_docs(db, docs[start:start + 200])
    admin.wait_for_changes_feed(db)


def _device(gateway: GatewayController, db: str, user: str, **kwargs: object) -> VirtualDevice:
    return VirtualDevice(f"{gateway.public_url}/{db}", Credentials(user, f"{user}-pw"), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def proxies() -> Iterator[list[LinkProxy]]:
    made: list[LinkProxy] = []
    yield made
    for proxy in made:
        proxy.close()


def _proxy(made: list[LinkProxy], gateway: GatewayController, quality: LinkQuality | None = None,
           **kwargs: object) -> LinkProxy:
    proxy = LinkProxy(upstream_of(gateway.public_url), quality, **kwargs)  # type: ignore[arg-type]
    made.append(proxy)
    return proxy


def _timed_pull(device: VirtualDevice) -> tuple[float, int]:
    started = time.monotonic()
    stats = device.sync(push=False, timeout=120)
    return time.monotonic() - started, stats.docs_pulled


# Shaping ------------------------------------------------------------------------------------------

def test_a_device_on_a_slow_link_takes_as_long_as_the_link_says(
    gateway: GatewayController, admin: AdminClient, db: str, proxies: list[LinkProxy]
) -> None:
    _seed(admin, db, "ann", 300)
    direct_s, direct_docs = _timed_pull(_device(gateway, db, "ann"))
    slow = _proxy(proxies, gateway, PRESETS["slow4g"])
    slow_s, slow_docs = _timed_pull(_device(gateway, db, "ann", via=slow.address))
    assert direct_docs == slow_docs == 300
    down = slow.stats.bytes_down
    assert down > 300 * DOC_BYTES * 0.7  # the documents (base64, deflated by BLIP) crossed the shaped link
    serialisation_s = 8 * down / PRESETS["slow4g"].down_bps
    # Lower bound from the link alone: every byte at 1.6 Mbit/s, plus the upgrade, the
    # checkpoint, subChanges and changes round trips (4 RTTs of 150 ms at least).
    assert slow_s >= serialisation_s + 4 * PRESETS["slow4g"].rtt_s * 0.9, (slow_s, serialisation_s)
    assert slow_s > direct_s + 0.5, (slow_s, direct_s)  # the bound above holds under any CPU load; this too
    assert slow_s < 4 * serialisation_s + 10  # shaped, not stuck


def test_latency_alone_costs_round_trips_and_loss_costs_stalls(
    gateway: GatewayController, admin: AdminClient, db: str, proxies: list[LinkProxy]
) -> None:
    _seed(admin, db, "bob", 20)
    far = _proxy(proxies, gateway, LinkQuality("far", 0.4, 0, 0))
    far_s, docs = _timed_pull(_device(gateway, db, "bob", via=far.address))
    assert docs == 20
    assert far_s >= 4 * 0.4 * 0.95, far_s  # upgrade, getCheckpoint, subChanges/changes, revs: >= 4 RTTs
    lossy = _proxy(proxies, gateway, LinkQuality("lossy", 0.02, 0, 0, loss=0.3), seed=5)
    lossy_s, docs = _timed_pull(_device(gateway, db, "bob", via=lossy.address))
    assert docs == 20
    assert lossy.stats.stalls >= 1
    assert lossy_s >= LinkQuality("lossy", 0.02, 0, 0, loss=0.3).rto_s  # at least one retransmission timeout


def test_link_proxies_give_each_device_its_profile_link(
    gateway: GatewayController, admin: AdminClient, db: str
) -> None:
    _seed(admin, db, "cid", 5)
    profile = quiet_ios()  # ios-active: slow4g 0.7, fast4g 0.2, cable 0.1
    rng = random.Random(1)
    with LinkProxies(gateway.public_url, seed=2) as links:
        picks = [links.address_for(profile.link, rng) for _ in range(40)]
        assert {q.name for _, q in picks} == {"slow4g", "fast4g", "cable"}
        assert links.assigned["slow4g"] > links.assigned["fast4g"] > 0
        address, quality = picks[0]
        device = _device(gateway, db, "cid", via=address)
        assert device.sync(push=False, timeout=60).docs_pulled == 5
        assert links.proxies[quality.name].stats.connections == 1
        assert sum(s.connections for s in links.stats().values()) == 1


# Cuts ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reset", [True, False], ids=["reset", "close"])
def test_a_cut_link_is_a_transient_connection_error(
    gateway: GatewayController, admin: AdminClient, db: str, proxies: list[LinkProxy], reset: bool
) -> None:
    _seed(admin, db, "dan", 100)
    proxy = _proxy(proxies, gateway, None, cut_plan=CutPlan(after_down_bytes=60_000, reset=reset))
    device = _device(gateway, db, "dan", via=proxy.address)
    with pytest.raises(ConnectionClosed) as caught:
        device.sync(push=False, timeout=60)
    assert is_transient(caught.value)  # Couchbase Lite retries after a dropped link
    assert proxy.stats.cuts == 1
    assert 0 < len(device.store.docs) < 100


def test_a_replication_cut_mid_flight_resumes_from_its_checkpoint_and_pulls_nothing_twice(
    gateway: GatewayController, admin: AdminClient, db: str, proxies: list[LinkProxy]
) -> None:
    total = 1000
    _seed(admin, db, "eve", total)
    # 4 Mbit/s: about 3 s for the whole pull. Checkpoints are due every 0.2 s, but each save's
    # reply queues behind the batch of revisions in flight (200 per changes batch), as on a
    # real slow link, so the device learns of a save about once per batch.
    proxy = _proxy(proxies, gateway, LinkQuality("thin", 0.02, 4_000_000, 1_000_000))
    device = _device(gateway, db, "eve", via=proxy.address, checkpoint_interval=0.2)
    pulled: Counter[str] = Counter()
    cut_at: list[int] = []

    def observe(event: ReplicationEvent) -> None:
        if event.kind is EventKind.PULLED:
            pulled[event.doc_id] += 1
        elif event.kind is EventKind.CHECKPOINT_SAVED and not cut_at and json.loads(event.detail).get("remote"):
            # The link drops right after a checkpoint the gateway and the device both hold.
            cut_at.append(len(pulled))
            proxy.cut_all()

    with pytest.raises(ConnectionClosed):
        device.sync(push=False, timeout=120, observer=observe)
    assert cut_at and 0 < cut_at[0] < total
    held_after_cut = len(device.store.docs)
    assert held_after_cut < total
    assert device.store.checkpoints[device.checkpoint_id].get("remote")

    stats = device.sync(push=False, timeout=120, observer=observe)
    assert len(device.store.docs) == total
    assert stats.docs_pulled == total - held_after_cut
    assert max(pulled.values()) == 1 and len(pulled) == total  # every document, none twice
    assert stats.changes_rows < total  # resumed from the checkpoint, not from zero


# Corruption ---------------------------------------------------------------------------------------

def test_garbage_from_the_gateway_is_a_protocol_error_for_that_device_and_the_fleet_goes_on(
    gateway: GatewayController, admin: AdminClient, db: str, proxies: list[LinkProxy]
) -> None:
    admin.put_user(db, "writer", password="writer-pw", admin_channels=["team"])
    rng = random.Random(3)
    writer = _device(gateway, db, "writer")
    for i in range(50):
        writer.store.put(f"note.{i}", {"channels": ["team"], "text": os.urandom(200).hex()})
    assert writer.sync(pull=False, timeout=60).docs_pushed == 50
    admin.wait_for_changes_feed(db)

    spoilers = {
        "ws-header": Corruption(offset=0, xor=0x70),  # RSV bits on the first WebSocket frame
        "blip-payload": Corruption(offset=6, length=4),  # inside the first BLIP frame: its CRC fails
        "garbage": Corruption(offset=0, length=None, xor=None),  # every byte after the handshake
    }
    runners: dict[str, DeviceRunner] = {}
    for name in [*spoilers, "direct-1", "direct-2"]:
        user = f"u-{name}"
        admin.put_user(db, user, password=f"{user}-pw", admin_channels=["team"])
        via = _proxy(proxies, gateway, None, corruption=spoilers[name]).address if name in spoilers else None
        runners[name] = DeviceRunner(_device(gateway, db, user, via=via, name=name), quiet_ios(),
                                     rng=random.Random(rng.random()))
    stop = threading.Event()
    threads = [threading.Thread(target=r.run, args=(stop,), kwargs={"duration": 30.0, "start": AppState.FOREGROUND})
               for r in runners.values()]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
            all(runners[n].errors for n in spoilers)
            and all(len(runners[n].device.store.docs) >= 50 for n in ("direct-1", "direct-2"))):
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join(20)
        assert not thread.is_alive()

    protocol_errors = (WebSocketProtocolError.__name__, RemoteBlipError.__name__)
    for name in spoilers:
        errors = runners[name].errors
        # Recorded once, typed, and not retried: the gateway would answer the same way again.
        assert len(errors) == 1, (name, errors)
        assert errors[0].startswith(protocol_errors), (name, errors)
        assert runners[name].retries == 0
        assert runners[name].protocol_errors == 1  # what `rig run` reports per device
    assert runners["ws-header"].errors[0].startswith("WebSocketProtocolError")
    assert runners["blip-payload"].errors[0].startswith("RemoteBlipError")
    for name in ("direct-1", "direct-2"):
        assert runners[name].errors == [] and runners[name].protocol_errors == 0
        assert len(runners[name].device.store.docs) == 50


def test_a_fleet_on_its_profiles_links_holds_exactly_what_its_users_may_read(
    gateway: GatewayController, admin: AdminClient, db: str
) -> None:
    spec = load_fleet(project_root() / "devices" / "fleets" / "demo.toml")
    assignment = spec.assign(random.Random(4))[:15]
    with LinkProxies(gateway.public_url, seed=3) as links:
        fleet = Fleet(gateway.public_url, admin, db, assignment, time_scale=60.0, seed=6, links=links)
        assert all(r.device.via is not None for r in fleet.runners)
        assert sum(links.assigned.values()) == 15
        fleet.run(8.0, start_awake_fraction=1.0)
        used = {name: s.connections for name, s in links.stats().items()}
        for runner in fleet.runners:
            runner.device.via = None  # the final check goes direct (same URL, same checkpoint): quicker
        assert fleet.final_sync(timeout=60) == []
        assert fleet.verify() == []
    assert sum(used.values()) >= 15  # every device connected through its link's proxy
    assert set(used) <= {"slow4g", "fast4g", "cable", "wifi", "slow3g"}
    assert sum(len(r.errors) for r in fleet.runners) == 0
