"""A burst of webhooks (a bulk write) is answered at once and routed by a few workers."""

from __future__ import annotations

import http.client
import random
import threading
import time
from typing import Any

from rig.device.profile import find_profile
from rig.push import PushService
from rig.push.service import PushTarget


class _SlowAdmin:
    """Stands in for the admin client only: each lookup takes as long as a busy gateway's would."""

    def __init__(self) -> None:
        self.lookups = 0
        self._lock = threading.Lock()

    def doc_channels(self, db: str, doc_id: str) -> set[str]:
        time.sleep(0.02)
        with self._lock:
            self.lookups += 1
        return {"team"}

    def user(self, db: str, name: str) -> dict[str, Any]:
        return {"all_channels": ["team"]}


def _post(port: int, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/sg/doc-changed", body, {"Content-Type": "application/json"})
    status = conn.getresponse().status
    conn.close()
    return status


def test_a_burst_of_webhooks_is_answered_at_once_and_routed_by_a_few_threads() -> None:
    admin = _SlowAdmin()
    service = PushService(admin, "db", rng=random.Random(1))  # type: ignore[arg-type]
    service.register(PushTarget("ann-1", "ann", deliver=lambda sent_at: None, accepts=lambda: True),
                     find_profile("ios-active").push)
    baseline = threading.active_count()
    burst = 300
    with service:
        port = service._server.server_port
        started = time.monotonic()
        statuses = [_post(port, f'{{"_id":"doc-{i}"}}'.encode()) for i in range(burst)]
        answered_in = time.monotonic() - started
        peak = threading.active_count() - baseline
        deadline = time.monotonic() + 30
        while admin.lookups < burst and time.monotonic() < deadline:
            time.sleep(0.05)
    assert statuses == [200] * burst
    # Routing 300 webhooks takes 300 x 20 ms / 4 workers = 1.5 s; answering them must not wait for it.
    assert answered_in < 300 * 0.02 / 2
    assert peak <= 12, f"{peak} threads for a burst of {burst} webhooks"
    assert admin.lookups == burst
    assert service.counters.received == burst
    assert service.counters.overflowed == 0
    assert service.counters.targeted >= 1


class _CountingAdmin:
    """Stands in for the admin client: counts user lookups, each slow enough that routing threads overlap."""

    def __init__(self) -> None:
        self.user_lookups: dict[str, int] = {}
        self._lock = threading.Lock()

    def doc_channels(self, db: str, doc_id: str) -> set[str]:
        time.sleep(0.005)
        return {"team"}

    def user(self, db: str, name: str) -> dict[str, Any]:
        time.sleep(0.05)
        with self._lock:
            self.user_lookups[name] = self.user_lookups.get(name, 0) + 1
        return {"all_channels": ["team"] if name != "bob" else ["bob"]}


def test_routing_threads_read_a_stale_user_once_and_target_only_readers() -> None:
    admin = _CountingAdmin()
    service = PushService(admin, "db", rng=random.Random(1))  # type: ignore[arg-type]
    for user in ("ann", "bob", "cy"):
        service.register(PushTarget(f"{user}-1", user, deliver=lambda sent_at: None, accepts=lambda: True),
                         find_profile("ios-active").push)
    burst = 40
    with service:
        port = service._server.server_port
        for i in range(burst):
            _post(port, f'{{"_id":"doc-{i}"}}'.encode())
        deadline = time.monotonic() + 10
        while service.counters.received < burst and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # the last webhooks' routing
    # Four routing threads, all users stale at once: each user is read once (the cache holds 2 s),
    # not once per thread that found it stale.
    assert admin.user_lookups == {"ann": 1, "bob": 1, "cy": 1}
    assert service.counters.received == burst
    assert service.counters.targeted == 2 * burst  # ann's and cy's devices: bob may not read channel team


def test_a_device_whose_delivery_fails_does_not_stop_delivery_to_the_others() -> None:
    delivered: list[float] = []
    failed: list[float] = []

    def broken(sent_at: float) -> None:
        failed.append(time.monotonic())
        raise OSError("its device loop has closed")

    # Phone time 600x: the OS throttle refills within the test.
    service = PushService(_SlowAdmin(), "db", rng=random.Random(1), time_scale=600.0)  # type: ignore[arg-type]
    service.register(PushTarget("bob-1", "bob", deliver=broken, accepts=lambda: True), find_profile("ios-active").push)
    service.register(PushTarget("ann-2", "ann", deliver=lambda sent_at: delivered.append(time.monotonic()),
                                accepts=lambda: True), find_profile("ios-active").push)
    with service:
        port = service._server.server_port
        deadline = time.monotonic() + 30
        n = 0
        # Writes keep coming until ann's device got two pushes after bob's delivery failed (or time is up).
        while time.monotonic() < deadline and not (failed and sum(t > failed[0] for t in delivered) >= 2):
            assert _post(port, f'{{"_id":"doc-{n}"}}'.encode()) == 200
            n += 1
            time.sleep(0.5)
    assert failed, "bob's device was never tried"
    assert sum(t > failed[0] for t in delivered) >= 2, (len(failed), len(delivered), n)
