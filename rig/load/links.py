"""A load process's device links: each device through the proxy of its link class, cuts, netdown.

With the scenario's `[links] enabled = true` every device of the process connects
through a loopback `LinkProxy` shaped as the link class drawn from its profile's `[link]`
mix; the draw depends only on the scenario's seed and the device's ordinal, so a device
has the same link in every process layout. With links off but cuts or a netdown asked
for, devices go through one unshaped proxy (class `direct`) that can still cut and go
down. The final sync and the per-device check go direct to the gateway, so verifying a
run does not wait on its slowest links. No locust here: tests may import it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rig.device.device import VirtualDevice
from rig.device.profile import DeviceProfile
from rig.device.runner import DeviceRunner
from rig.faults.netdown import FlagWatcher, NetdownFlag
from rig.faults.proxies import LinkProxies
from rig.faults.proxy import CutPlan
from rig.load.scenario import Links


def cut_plan(links: Links) -> CutPlan | None:
    if links.cut_after_s is None and links.cut_after_down_bytes is None:
        return None
    return CutPlan(after_down_bytes=links.cut_after_down_bytes, after_s=links.cut_after_s, reset=links.cut_reset)


def links_wanted(links: Links, *, netdown: bool) -> bool:
    """Do devices go through proxies: shaped links, cuts, or a netdown that needs links to take down."""
    return links.enabled or cut_plan(links) is not None or netdown


class ProcessLinks:
    def __init__(self, public_url: str, links: Links, *, seed: int, netdown_flag: str = "") -> None:
        self.settings = links
        self.seed = seed
        self.proxies = LinkProxies(public_url, seed=seed, cut_plan=cut_plan(links))
        self.device_class: dict[str, str] = {}
        self.windows: list[dict[str, float | int | None]] = []
        """Each netdown this process saw: wall-clock start and end, connections it cut."""
        self._down = False
        self._lock = threading.Lock()
        self.watcher = None if not netdown_flag else \
            FlagWatcher(NetdownFlag(Path(netdown_flag)), self.set_down).start()
        self._closed: dict[str, Any] | None = None

    def set_down(self, down: bool) -> int:
        """Every link down (netdown) or up again; told by the flag or by the master (idempotent)."""
        with self._lock:
            if down == self._down:
                return 0
            self._down = down
            cuts = self.proxies.set_down(down)
            if down:
                self.windows.append({"down_at": time.time(), "up_at": None, "cuts": cuts})
            elif self.windows:
                self.windows[-1]["up_at"] = time.time()
            return cuts

    def route(self, device: VirtualDevice, profile: DeviceProfile, ordinal: int) -> str:
        """Point the device at its link's proxy; returns the link class."""
        if self.settings.enabled:
            device.via, quality = self.proxies.address_for(profile.link, random.Random(f"{self.seed}/{ordinal}"))
            name = quality.name
        else:
            device.via, name = self.proxies.direct(), LinkProxies.DIRECT
        self.device_class[device.name] = name
        return name

    @staticmethod
    def go_direct(runners: Iterable[DeviceRunner]) -> None:
        """The devices connect straight to the gateway from now on (same URL, same checkpoints)."""
        for runner in runners:
            runner.device.via = None

    def close(self) -> dict[str, Any]:
        """Stop watching for netdown, close every proxy; the links' results (idempotent)."""
        if self._closed is None:
            if self.watcher is not None:
                self.watcher.stop()
            windows = self.windows
            stats = self.proxies.stats()
            self.proxies.close()
            classes = {name: {"devices": self.proxies.assigned.get(name, 0), **asdict(stats[name])}
                       for name in sorted(stats)}
            plan = cut_plan(self.settings)
            self._closed = {"shaped": self.settings.enabled, "cut_plan": None if plan is None else asdict(plan),
                            "classes": classes, "netdown": windows}
        return self._closed
