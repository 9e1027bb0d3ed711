"""Gateway faults on command: `rig gateway fault KIND` against the gateway `rig gateway up` started.

The gateway belongs to no running rig process, so these targets act on what `up` left
behind: for `local` the process group in its state file (signals; a kill is followed by
a fresh start from the same config, binary and ports, and the state file learns the new
pid), for `docker` the container by name (the engine's kill, pause, start, restart, and network
disconnect/connect for netdown).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from rig._errors import GatewayError, GatewayStartError
from rig.gateway.docker import disconnect_container, reconnect_container


def wait_answering(admin_url: str, databases: list[str], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=admin_url, timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                if client.get("/_ping").status_code == 200 and all(
                        client.get(f"/{db}/").json().get("state") == "Online" for db in databases):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
    raise GatewayStartError(f"the gateway at {admin_url} did not answer within {timeout:.0f} s")


class DetachedLocalGateway:
    """The process `rig gateway up` started, known by its state file."""

    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path
        self.state: dict[str, Any] = json.loads(state_path.read_text())

    @property
    def pid(self) -> int:
        return int(self.state["pid"])

    def _signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            raise GatewayError(f"the gateway (pid {self.pid}) is not running") from None

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, os.WNOHANG)
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        self._wait_gone(10)

    def start(self) -> None:
        """The same binary on the same config (ports, databases, data directory) as `up` wrote it."""
        config = self.state_path.parent / "sync_gateway.json"
        with open(self.state["log"], "ab") as log:
            proc = subprocess.Popen([self.state["binary"], str(config)], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.state_path.parent, start_new_session=True)
        self.state["pid"] = proc.pid
        self.state_path.write_text(json.dumps(self.state, indent=2))
        self.wait_ready()

    def restart(self) -> None:
        self._signal(signal.SIGTERM)
        if not self._wait_gone(15):
            self._signal(signal.SIGKILL)
            self._wait_gone(10)
        self.start()

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def unpause(self) -> None:
        self._signal(signal.SIGCONT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_answering(self.state["admin_url"], [self.state["database"]], timeout=timeout)


class DetachedContainerGateway:
    """The container `rig gateway up --backend docker` started, known by its name."""

    def __init__(self, state: dict[str, Any], client: Any) -> None:
        self.state = state
        self.client = client
        self._networks: list[str] = []
        try:
            self.container = client.containers.get(state["container"])
        except Exception as exc:
            raise GatewayError(f"container {state['container']} not found: {exc}") from None

    def kill(self) -> None:
        self.container.kill(signal="SIGKILL")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            self.container.reload()
            if self.container.status != "running":
                return
            time.sleep(0.1)

    def start(self) -> None:
        self.container.start()
        self.wait_ready()

    def restart(self) -> None:
        self.container.restart(timeout=15)
        self.wait_ready()

    def pause(self) -> None:
        self.container.pause()

    def unpause(self) -> None:
        self.container.unpause()

    def disconnect_network(self) -> list[str]:
        self._networks = disconnect_container(self.client, self.container, self.state["container"])
        return self._networks

    def reconnect_network(self, timeout: float = 60.0) -> None:
        reconnect_container(self.client, self.container, self.state["container"], self._networks)
        self._networks = []
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_answering(self.state["admin_url"], [self.state["database"]], timeout=timeout)
