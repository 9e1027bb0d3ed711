"""CPU time of this process and of another (the gateway), read in one run so ratios are honest."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float
    rig_cpu: float
    gateway_cpu: float


def sample(gateway_pid: int) -> Sample:
    return Sample(time.monotonic(), time.process_time(), process_cpu_seconds(gateway_pid))
