"""How a platform's push service treats one device (APNs, FCM): budget, throttle, delay, drops.

A device profile carries it (`[push]` in `devices/profiles/*.toml`) and the push service
(`rig.push`) applies it; it lives below both so that neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rig._distributions import LogNormal


@dataclass(frozen=True, slots=True)
class Push:
    enabled: bool = True
    budget_seconds: float = 30.0
    throttle_capacity: int = 3
    throttle_refill_per_hour: float = 3.0
    delay_seconds: LogNormal = LogNormal(1.0, 5.0)
    drop_probability: float = 0.05
