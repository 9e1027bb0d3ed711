"""Which side bound a fleet bench's throughput: the rig, the gateway, or neither (the load was carried).

Why: a sustained fleet can move fewer documents than its devices write for three different reasons,
and each calls for a different fix. The rig may be out of CPU (its loop late); the rig may hold writes
back by itself (flow control that does not send, a loop that does not read); or the gateway may not
answer as fast as it is asked. CPU figures alone do not tell the last two apart, since a gateway can
be slow without using its cores (locks, storage, a shared machine's other processes). So the bench
watches what the devices hold:

- unpushed writes: local revisions the gateway has not taken yet (neither pushed nor refused), counted
  at the start and end of the measured window; growth beyond a tenth of the writes made is a backlog;
- requests awaiting the gateway's reply (`proposeChanges`, `rev`, checkpoints), sampled every second
  on every device: a backlog with the devices' requests out means the gateway holds the work; a
  backlog with nothing out means the rig did not send it.

The gateway's own counters go with the evidence: the mean time its rev writes took (from receiving a
`rev` to the write done: queueing inside the gateway included) and how far its change cache lagged
its writes (rosmar's feed), so a reader sees where inside the gateway the work waited.

The verdict (`bound`) with its evidence goes into each result row and the bench's output line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rig.device import VirtualDevice
from rig.metrics.saturation import run_queue_wait_seconds

BACKLOG_SHARE = 0.1
"""Unpushed writes must grow by more than this share of the writes made (and by 10) to count as a backlog."""
AWAITING_PER_DEVICE = 0.5
"""Mean requests awaiting the gateway's reply per device above which a backlog is the gateway's."""
BOUND_LABELS = {"rig": "RIG-BOUND", "gateway": "GATEWAY-BOUND", "neither": "load carried (neither bound)"}
BUSY_SHARE = 0.9
"""A share of the machine's cores above which the machine counts as fully busy."""


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine since boot, from /proc/stat (Linux)."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user/nice
    return total - idle, total


def unpushed(devices: Iterable[VirtualDevice]) -> int:
    """Local revisions the gateway has neither taken nor refused (a conflict stalls a revision: not counted)."""
    count = 0
    for device in devices:
        # list() of a dict's values runs in C under the GIL: safe while the devices' loop mutates it.
        for doc in list(device.store.docs.values()):
            if doc.pending and doc.stalled_rev != doc.rev:
                count += 1
    return count


def awaiting(devices: Iterable[VirtualDevice]) -> tuple[int, int]:
    """(requests awaiting the gateway's reply, devices replicating) right now."""
    out = sessions = 0
    for device in devices:
        session = device.session
        if session is not None:
            sessions += 1
            out += session.blip.awaiting_replies
    return out, sessions


@dataclass(slots=True)
class BoundWatch:
    """Samples over one measured window: `begin()`, `sample()` about every second, `end()`, then `verdict()`."""

    devices: list[VirtualDevice]
    gateway_pid: int | None = None
    writes_made: int = 0
    _backlog_before: int = 0
    _backlog_after: int = 0
    _jiffies_before: tuple[int, int] = (0, 0)
    _jiffies_after: tuple[int, int] = (0, 0)
    _awaiting: list[float] = field(default_factory=list)
    _gateway_wait: list[float | None] = field(default_factory=list)

    def begin(self) -> None:
        self._backlog_before = unpushed(self.devices)
        self._jiffies_before = machine_jiffies()
        self._gateway_wait = [self._wait()]

    def _wait(self) -> float | None:
        return None if self.gateway_pid is None else run_queue_wait_seconds(self.gateway_pid)

    def sample(self) -> None:
        out, sessions = awaiting(self.devices)
        if sessions:
            self._awaiting.append(out / sessions)

    def end(self) -> None:
        self._jiffies_after = machine_jiffies()
        self._gateway_wait.append(self._wait())
        self._backlog_after = unpushed(self.devices)

    def verdict(self, *, rig: dict[str, Any], gateway_cores: float, wall_s: float,
                gateway_delta: dict[str, float] | None = None) -> dict[str, Any]:
        busy = self._jiffies_after[0] - self._jiffies_before[0]
        total = self._jiffies_after[1] - self._jiffies_before[1]
        cpus = os.cpu_count() or 1
        waits = self._gateway_wait
        gateway_wait = (round((waits[1] - waits[0]) / wall_s, 2) if len(waits) == 2 and waits[0] is not None
                        and waits[1] is not None and wall_s > 0 else None)
        return judge(rig=rig, writes_made=self.writes_made, unpushed_before=self._backlog_before,
                     unpushed_after=self._backlog_after,
                     awaiting_gateway_per_device=round(sum(self._awaiting) / len(self._awaiting), 2)
                     if self._awaiting else None,
                     machine_cores_busy=round(cpus * busy / total, 2) if total > 0 else None, machine_cores=cpus,
                     gateway_cores_busy=round(gateway_cores, 2), gateway_waiting_for_cpu=gateway_wait,
                     wall_s=round(wall_s, 1),
                     gateway_inside=gateway_inside(gateway_delta or {}))


def gateway_inside(delta: dict[str, float]) -> dict[str, Any]:
    """Where work waited inside the gateway over the window, from its counters' deltas
    (`rig.bench.observe.GATEWAY_COUNTERS` keys). `revs_throttled`: revs that waited for one of the
    gateway's per-connection slots for concurrent rev writes (its own flow control)."""
    pushed, cached = delta.get("docs_pushed", 0.0), delta.get("cached", 0.0)
    return {"rev_write_s_mean": round(delta.get("push_write_ns", 0.0) / pushed / 1e9, 3) if pushed else None,
            "revs_throttled": int(delta.get("revs_throttled", 0.0)),
            "writes": int(delta.get("doc_writes", 0.0)), "writes_cached": int(cached),
            "cache_lag_s_mean": round(delta.get("caching_ns", 0.0) / cached / 1e9, 3) if cached else None}


def judge(*, rig: dict[str, Any], writes_made: int, unpushed_before: int, unpushed_after: int,
          awaiting_gateway_per_device: float | None, machine_cores_busy: float | None, machine_cores: int,
          gateway_cores_busy: float, wall_s: float, gateway_waiting_for_cpu: float | None = None,
          gateway_inside: dict[str, Any] | None = None) -> dict[str, Any]:
    """{"bound": "rig" | "gateway" | "neither", "bound_reason": ..., "bound_evidence": {...}} (pure)."""
    evidence = {"writes_made": writes_made, "unpushed_before": unpushed_before, "unpushed_after": unpushed_after,
                "awaiting_gateway_per_device": awaiting_gateway_per_device,
                "machine_cores_busy": machine_cores_busy, "machine_cores": machine_cores,
                "gateway_cores_busy": gateway_cores_busy, "gateway_waiting_for_cpu": gateway_waiting_for_cpu,
                "rig_cpu_ratio_max": rig.get("cpu_ratio_max"),
                "rig_loop_lag_p99_s": rig.get("loop_lag_p99_s"), "gateway_inside": gateway_inside}
    growth = unpushed_after - unpushed_before
    behind = growth > max(10, BACKLOG_SHARE * writes_made)
    rig_state = (f"rig at most {rig.get('cpu_ratio_max', 0):.2f} of a core, loop lag p99 "
                 f"{rig.get('loop_lag_p99_s', 0):.2f} s")
    backlog = f"unpushed writes {unpushed_before} -> {unpushed_after} over {wall_s:g} s ({writes_made} written)"
    if rig.get("saturated"):
        return {"bound": "rig", "bound_reason": f"the rig saturated ({rig.get('saturated_seconds', 0):.1f} s; "
                f"{rig_state}); {backlog}", "bound_evidence": evidence}
    if not behind:
        return {"bound": "neither", "bound_reason": f"the gateway took the writes as they came ({backlog}); "
                f"{rig_state}", "bound_evidence": evidence}
    out = awaiting_gateway_per_device or 0.0
    if out < AWAITING_PER_DEVICE:
        return {"bound": "rig", "bound_reason": f"writes piled up on the devices with only {out:.2f} requests "
                f"per device awaiting the gateway: the rig did not send them (its flow, not its CPU; {rig_state}); "
                f"{backlog}", "bound_evidence": evidence}
    machine_full = machine_cores_busy is not None and machine_cores_busy >= BUSY_SHARE * machine_cores
    waited = (f", its threads runnable but waiting for a core {gateway_waiting_for_cpu:.2f} s per s"
              if gateway_waiting_for_cpu is not None else "")
    if machine_full:
        cpu = (f"the machine's {machine_cores} cores were all busy ({machine_cores_busy:.2f}; the gateway "
               f"{gateway_cores_busy:.2f} of them{waited}): the gateway got no more CPU here")
    elif gateway_cores_busy >= BUSY_SHARE * machine_cores:
        cpu = f"the gateway used {gateway_cores_busy:.2f} of {machine_cores} cores{waited}"
    else:
        cpu = (f"the gateway was not out of CPU ({gateway_cores_busy:.2f} cores, machine "
               f"{machine_cores_busy if machine_cores_busy is not None else '?'} of {machine_cores}{waited}): "
               "it held the replies for another reason (its own waits; see its metrics)")
    inside = ""
    if gateway_inside and gateway_inside.get("rev_write_s_mean") is not None:
        inside = (f"; inside the gateway a rev write took {gateway_inside['rev_write_s_mean']:.2f} s on average "
                  f"({gateway_inside.get('revs_throttled', 0)} revs waited for its per-connection slots), "
                  f"{gateway_inside['writes_cached']} of its {gateway_inside['writes']} writes reached its change "
                  f"cache (mean lag {gateway_inside.get('cache_lag_s_mean') or 0:.2f} s)")
    return {"bound": "gateway", "bound_reason": f"{backlog} while each device had {out:.2f} requests awaiting the "
            f"gateway's reply and the rig was not saturated ({rig_state}); {cpu}{inside}",
            "bound_evidence": evidence}
