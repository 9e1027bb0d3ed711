"""Where a run's load processes live: the endpoints they listen on and how devices are spread.

Below both the orchestration of a run (`rig.load.orchestrate`) and the master-worker protocol
(`rig.load.coordinate`), which each need them. No locust here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a load process listens: the gateway's webhooks and Prometheus reach it at `host`."""

    host: str
    push_port: int
    metrics_port: int
    bind_host: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Distribution:
    """How `rig run` spreads devices: `local` worker processes it starts, `remote` ones (`rig worker`)
    that connect to the master at `bind_host:port`, waited for `timeout` seconds."""

    local: int = 0
    remote: int = 0
    bind_host: str = "127.0.0.1"
    port: int = 0
    timeout: float = 120.0
    local_listen_host: str = "127.0.0.1"
    """Where the local workers' push services and metrics listen (a docker gateway's webhooks come
    from its container network, so there the host's bridge address)."""

    @property
    def workers(self) -> int:
        return self.local + self.remote
