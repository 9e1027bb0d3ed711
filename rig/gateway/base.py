"""The one interface every Sync Gateway controller offers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class GatewayController(Protocol):
    """Start, stop and locate a Sync Gateway.

    `local` runs a binary, `docker` a container, `url` only points at one that
    runs elsewhere (its lifecycle calls raise GatewayUnsupported).
    """

    @property
    def public_url(self) -> str: ...

    @property
    def admin_url(self) -> str: ...

    @property
    def metrics_url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def restart(self) -> None: ...

    def wait_ready(self, timeout: float = 60.0) -> None: ...

    def log_tail(self, lines: int = 50) -> str: ...
