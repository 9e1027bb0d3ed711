"""A fleet's device links: one `LinkProxy` per link class in front of one gateway.

Split from `rig.faults.proxy` (the proxy itself); this module only hands devices the
address of their link class's proxy and takes every link down or up at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from rig._errors import ConnectError
from rig.faults.link import LinkQuality, draw_link
from rig.faults.proxy import CutPlan, LinkProxy, ProxyStats


def upstream_of(url: str) -> tuple[str, int]:
    """(host, port) the gateway's public URL names (http(s)/ws(s)://host:port/...)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ConnectError(f"no host in {url!r}")
    default = 443 if parts.scheme in ("https", "wss") else 80
    return parts.hostname, parts.port or default


class LinkProxies:
    """One proxy per link class in front of one gateway, started on first use; devices get their link's address.

    `address_for(profile.link, rng)` draws the device's link class from its profile's mix
    and returns the proxy's (host, port) for `VirtualDevice.via`; every connection the
    device makes through it gets that class's latency, bandwidth and loss.
    """

    DIRECT = "direct"
    """The class name of the unshaped proxy (`direct()`): no delay, still cut and taken down with the rest."""

    def __init__(self, gateway_url: str, *, seed: int = 0, cut_plan: CutPlan | None = None,
                 factory: Callable[..., LinkProxy] = LinkProxy) -> None:
        self.upstream = upstream_of(gateway_url)
        self.seed = seed
        self.cut_plan = cut_plan
        self._factory = factory
        self._lock = threading.Lock()
        self._down = False
        self.proxies: dict[str, LinkProxy] = {}
        self.assigned: dict[str, int] = {}
        """Devices given each link class."""

    def proxy(self, quality: LinkQuality | None) -> LinkProxy:
        """The proxy of a link class (None: the unshaped `direct` one), started on first use."""
        name = self.DIRECT if quality is None else quality.name
        with self._lock:
            proxy = self.proxies.get(name)
            if proxy is None:
                proxy = self.proxies[name] = self._factory(self.upstream, quality, cut_plan=self.cut_plan,
                                                           seed=self.seed + len(self.proxies))
                proxy.down = self._down
            return proxy

    def direct(self) -> tuple[str, int]:
        """The unshaped proxy's address, counted as a device of class `direct`."""
        with self._lock:
            self.assigned[self.DIRECT] = self.assigned.get(self.DIRECT, 0) + 1
        return self.proxy(None).address

    def set_down(self, down: bool) -> int:
        """Every link down (open connections cut, new ones refused) or up again; returns the cuts."""
        with self._lock:
            self._down = down
            proxies = list(self.proxies.values())
        return sum(proxy.set_down(down) for proxy in proxies)

    def address_for(self, mix: Mapping[str, float], rng: random.Random) -> tuple[tuple[str, int], LinkQuality]:
        quality = draw_link(mix, rng)
        with self._lock:
            self.assigned[quality.name] = self.assigned.get(quality.name, 0) + 1
        return self.proxy(quality).address, quality

    def stats(self) -> dict[str, ProxyStats]:
        return {name: proxy.stats for name, proxy in self.proxies.items()}

    def close(self) -> None:
        for proxy in list(self.proxies.values()):
            proxy.close()

    def __enter__(self) -> LinkProxies:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
