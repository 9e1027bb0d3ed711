"""`rig run --workers auto`: the rule that picks the number of local load processes."""

from __future__ import annotations

import argparse

import pytest

from rig.load.sizing import DEVICES_PER_PROCESS, plan_workers


def test_a_small_fleet_stays_in_one_process() -> None:
    plan = plan_workers(30, 8, gateway_local=True)
    assert (plan.workers, plan.processes, plan.wanted) == (0, 1, 1)


def test_a_big_fleet_gets_a_process_per_share_up_to_the_cores_left_beside_a_local_gateway() -> None:
    assert plan_workers(3 * DEVICES_PER_PROCESS, 8, gateway_local=True).workers == 3
    capped = plan_workers(20 * DEVICES_PER_PROCESS, 8, gateway_local=True)
    assert (capped.workers, capped.wanted) == (7, 20)
    assert "fewer than the fleet wants" in capped.reason
    assert plan_workers(20 * DEVICES_PER_PROCESS, 8, gateway_local=False).workers == 8


def test_two_cores_with_a_local_gateway_leave_one_process() -> None:
    plan = plan_workers(500, 2, gateway_local=True)
    assert plan.workers == 0 and plan.wanted == 5
    assert "2 core(s) leave room for 1" in plan.reason


def test_the_workers_option_takes_a_number_or_auto() -> None:
    from rig.cli.run import _workers

    assert _workers("auto") == "auto"
    assert _workers("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="'many'"):
        _workers("many")
