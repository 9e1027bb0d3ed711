"""`rig run --workers auto`: how many local load processes a fleet needs on the cores available.

The rule: one process per `DEVICES_PER_PROCESS` devices, at most one per core left over once
a local Sync Gateway has one (it must not compete with its own load), and no master/worker
split for a single process. `DEVICES_PER_PROCESS` comes from measurements (docs/saturation.md):
one Python process carries about 100 continuously replicating foreground devices writing 4
documents a second before it reaches 0.9 of a core (`rig bench fleet`), and phone-like fleets
(mostly asleep, waking to sync) cost a fraction of that per device; 100 keeps a continuous fleet
just under saturation and leaves a phone-like one far below it. When the cores run out before
the fleet is covered the plan says so: the run's saturation figures will tell whether it mattered.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

DEVICES_PER_PROCESS = 100


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. a container's cpuset), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    workers: int
    """Local worker processes to start (0: the devices run in the `rig run` process itself)."""
    processes: int
    wanted: int
    """Processes the fleet would want with no core limit."""
    reason: str


def plan_workers(devices: int, cores: int, *, gateway_local: bool,
                 devices_per_process: int = DEVICES_PER_PROCESS) -> WorkerPlan:
    wanted = max(1, math.ceil(devices / max(1, devices_per_process)))
    room = max(1, cores - 1 if gateway_local else cores)
    processes = min(wanted, room)
    where = "beside the local gateway" if gateway_local else "(the gateway runs elsewhere)"
    reason = (f"--workers auto: {devices} devices at up to {devices_per_process} per process want {wanted} "
              f"process(es); {cores} core(s) leave room for {room} {where}: {processes} process(es)")
    if wanted > room:
        reason += "; fewer than the fleet wants, so watch the run's saturation figures"
    return WorkerPlan(0 if processes == 1 else processes, processes, wanted, reason)
