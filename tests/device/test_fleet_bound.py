"""`rig bench fleet` says what bound a sustained run, against the real Sync Gateway: the rig when it is
made to saturate (a thread that holds the GIL in the bench's own process), the gateway when it is
starved (stopped 95 % of the time with SIGSTOP/SIGCONT while the devices write), neither when both
have room. Each on a small fleet on the one selector loop, a few seconds each."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rig.bench import fleet
from rig.bench.bound import BOUND_LABELS
from rig.gateway import AdminClient, DatabaseSpec, LocalGateway

pytestmark = [pytest.mark.gateway]


@pytest.fixture(scope="module")
def own_gateway(sg_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGateway]:
    # Its own gateway: the starved test stops its process, which must not touch other tests' gateways.
    with LocalGateway(sg_binary, tmp_path_factory.mktemp("bound") / "gateway", databases=[DatabaseSpec("boot")],
                      log_level="warn") as gateway:
        yield gateway


def _row(gateway: LocalGateway, devices: int, *, writes_per_s: float, window: Any = None) -> dict[str, Any]:
    admin = AdminClient(gateway.admin_url, gateway.metrics_url)
    lines: list[str] = []
    try:
        rows = fleet.sustained(gateway, admin, [devices], seconds=5.0, writes_per_s=writes_per_s,
                               progress=lines.append, driver="loop",
                               **({} if window is None else {"window": window}))
    finally:
        admin.close()
    assert len(rows) == 1 and rows[0]["errors"] == 0, rows
    assert any(BOUND_LABELS[rows[0]["bound"]] in line for line in lines), lines
    return rows[0]


def test_a_gateway_with_room_and_a_calm_rig_bind_neither(own_gateway: LocalGateway) -> None:
    row = _row(own_gateway, 10, writes_per_s=2.0)
    assert row["bound"] == "neither", row["bound_reason"]
    assert row["valid"] and row["bound_evidence"]["writes_made"] >= 50


@contextmanager
def _starved(pid: int, *, running_s: float = 0.01, period_s: float = 0.2) -> Iterator[None]:
    """The gateway runs `running_s` of every `period_s` (a slow share of a core, without cgroups)."""
    done = threading.Event()

    def duty() -> None:
        while not done.is_set():
            os.kill(pid, signal.SIGSTOP)
            done.wait(period_s - running_s)
            os.kill(pid, signal.SIGCONT)
            time.sleep(running_s)

    thread = threading.Thread(target=duty, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)
        os.kill(pid, signal.SIGCONT)


def test_a_starved_gateway_binds_the_run_and_the_bench_says_so(own_gateway: LocalGateway) -> None:
    pid = own_gateway.pid
    assert pid is not None
    row = _row(own_gateway, 12, writes_per_s=10.0, window=lambda: _starved(pid))
    assert row["bound"] == "gateway", row["bound_reason"]
    evidence = row["bound_evidence"]
    assert evidence["unpushed_after"] > evidence["unpushed_before"] + 0.1 * evidence["writes_made"]
    assert evidence["awaiting_gateway_per_device"] >= 0.5
    assert not row["rig"]["saturated"]


@contextmanager
def _busy_rig() -> Iterator[None]:
    """A thread in the bench's own process holding the GIL ~0.7 s at a time (one C call, as
    tests/load/test_saturation_run.py does): the devices' loop stalls, the rig saturates."""
    done = threading.Event()

    def busy() -> None:
        n = 1_000_000
        spent = time.thread_time()
        sum(range(n))
        chunk = int(n * 0.7 / max(1e-6, time.thread_time() - spent))
        while not done.is_set():
            sum(range(chunk))
            time.sleep(0.2)

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(10)


def test_a_saturated_rig_binds_the_run_and_the_bench_says_so(own_gateway: LocalGateway) -> None:
    row = _row(own_gateway, 14, writes_per_s=2.0, window=_busy_rig)
    assert row["bound"] == "rig", row["bound_reason"]
    assert row["rig"]["saturated"] and not row["valid"]
