"""rig.bench.bound.judge: which side bound a fleet bench, each verdict with an input that must not give it."""

from __future__ import annotations

from typing import Any

from rig.bench.bound import gateway_inside, judge

CALM = {"saturated": False, "saturated_seconds": 0.0, "cpu_ratio_max": 0.4, "loop_lag_p99_s": 0.05}
SATURATED = {"saturated": True, "saturated_seconds": 4.0, "cpu_ratio_max": 0.98, "loop_lag_p99_s": 0.8}


def _judge(rig: dict[str, Any] = CALM, *, before: int = 10, after: int = 10, awaiting: float | None = 0.3,
           machine: float | None = 1.0, gateway: float = 0.5, writes: int = 400) -> dict[str, Any]:
    return judge(rig=rig, writes_made=writes, unpushed_before=before, unpushed_after=after,
                 awaiting_gateway_per_device=awaiting, machine_cores_busy=machine, machine_cores=2,
                 gateway_cores_busy=gateway, wall_s=10.0,
                 gateway_inside={"rev_write_s_mean": 3.2, "writes": 500, "writes_cached": 120, "cache_lag_s_mean": 1.5})


def test_a_saturated_rig_binds_whatever_else_happened() -> None:
    verdict = _judge(SATURATED, after=300, awaiting=14.0)
    assert verdict["bound"] == "rig"
    assert "saturated" in verdict["bound_reason"]


def test_a_backlog_with_the_devices_requests_out_is_the_gateways() -> None:
    verdict = _judge(after=300, awaiting=9.5)
    assert verdict["bound"] == "gateway"
    assert "9.50 requests awaiting" in verdict["bound_reason"]
    assert "not out of CPU" in verdict["bound_reason"]
    assert "rev write took 3.20 s" in verdict["bound_reason"]
    assert verdict["bound_evidence"]["unpushed_after"] == 300


def test_a_gateway_on_a_full_machine_or_on_its_cores_is_said_so() -> None:
    assert "all busy" in _judge(after=300, awaiting=9.5, machine=1.95)["bound_reason"]
    assert "used 1.90 of 2 cores" in _judge(after=300, awaiting=9.5, machine=1.5, gateway=1.9)["bound_reason"]


def test_a_backlog_with_nothing_awaiting_the_gateway_is_the_rigs_flow() -> None:
    verdict = _judge(after=300, awaiting=0.1)
    assert verdict["bound"] == "rig"
    assert "did not send" in verdict["bound_reason"]


def test_writes_taken_as_they_came_bind_neither() -> None:
    # A small growth (under a tenth of the writes, and under 10) is no backlog, even with requests out.
    assert _judge(after=45, awaiting=3.0)["bound"] == "neither"
    assert _judge(before=0, after=9, writes=20, awaiting=3.0)["bound"] == "neither"
    assert _judge(after=60, awaiting=3.0)["bound"] == "gateway"


def test_where_work_waited_inside_the_gateway_from_its_counters() -> None:
    inside = gateway_inside({"docs_pushed": 100, "push_write_ns": 250e9, "doc_writes": 100, "cached": 40,
                             "caching_ns": 20e9})
    assert inside == {"rev_write_s_mean": 2.5, "revs_throttled": 0, "writes": 100, "writes_cached": 40,
                      "cache_lag_s_mean": 0.5}
    assert gateway_inside({})["rev_write_s_mean"] is None
