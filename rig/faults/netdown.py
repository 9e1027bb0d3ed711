"""`netdown` for a gateway the rig runs as a local process: the devices' links go down instead.

A container can be taken off its network (`DockerGateway.disconnect_network`); a local
process cannot, short of firewall rules that need root. So `rig run` sends every device
through a link proxy (`rig.faults.proxies.LinkProxies`), and a netdown takes those links
down: a flag file in the run directory, which every load process on this machine watches
(`FlagWatcher`), and for a distributed run a message from the master to every worker (on
other machines too), so all of them go down at once. While it is down each proxy cuts
the connections that are open and resets new ones as soon as it accepts them: devices
see `ConnectionClosed` mid-replication and `ConnectError` on the handshake, both
transient, and retry with Couchbase Lite's backoff. Unlike a container off its network,
the admin API and the gateway's webhooks to the push service keep working.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

POLL_S = 0.05


class NetdownFlag:
    """The run directory's flag: present while the gateway is 'off its network'."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def is_down(self) -> bool:
        return self.path.exists()

    def disconnect_network(self) -> None:
        self.path.write_text(f"{time.time()}\n")

    def reconnect_network(self, timeout: float = 60.0) -> None:
        """Bring the links up; returns once the load processes had time to see it."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        time.sleep(2 * POLL_S)


class LocalNetworkSwitch:
    """A local gateway's fault calls, plus netdown through the devices' links (a `NetdownFlag`)."""

    def __init__(self, gateway: Any, flag: NetdownFlag) -> None:
        self.gateway = gateway
        self.flag = flag
        self.listeners: list[Callable[[bool], object]] = []
        """Also told (True: down, False: up): the master of a distributed run tells its workers."""

    def kill(self) -> None:
        self.gateway.kill()

    def start(self) -> None:
        self.gateway.start()

    def restart(self) -> None:
        self.gateway.restart()

    def pause(self) -> None:
        self.gateway.pause()

    def unpause(self) -> None:
        self.gateway.unpause()

    def wait_ready(self, timeout: float = 60.0) -> None:
        self.gateway.wait_ready(timeout)

    def disconnect_network(self) -> None:
        self.flag.disconnect_network()
        for listener in self.listeners:
            listener(True)

    def reconnect_network(self, timeout: float = 60.0) -> None:
        for listener in self.listeners:
            listener(False)
        self.flag.reconnect_network(timeout)


class FlagWatcher:
    """Calls `on_change(down)` whenever the flag appears or goes; records each down window it saw."""

    def __init__(self, flag: NetdownFlag, on_change: Callable[[bool], int], *, poll_s: float = POLL_S) -> None:
        self.flag = flag
        self.on_change = on_change
        self.poll_s = poll_s
        self.windows: list[dict[str, float | int | None]] = []
        """Per netdown seen: wall-clock start and end, and the connections it cut."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netdown-watcher", daemon=True)

    def start(self) -> FlagWatcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        down = False
        while not self._stop.wait(self.poll_s):
            now_down = self.flag.is_down
            if now_down == down:
                continue
            down = now_down
            cuts = self.on_change(down)
            if down:
                self.windows.append({"down_at": time.time(), "up_at": None, "cuts": cuts})
            elif self.windows:
                self.windows[-1]["up_at"] = time.time()
        if down:
            self.on_change(False)

    def stop(self) -> list[dict[str, float | int | None]]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        return self.windows
