"""A Sync Gateway that runs elsewhere, given by its URLs (a staging cluster)."""

from __future__ import annotations

import time

import httpx

from rig._errors import GatewayStartError, GatewayUnsupported


class UrlGateway:
    """Points at an already-running Sync Gateway; it cannot start or stop it."""

    def __init__(self, public_url: str, admin_url: str, metrics_url: str | None = None) -> None:
        self._public = public_url.rstrip("/")
        self._admin = admin_url.rstrip("/")
        self._metrics = (metrics_url or admin_url).rstrip("/")

    @property
    def public_url(self) -> str:
        return self._public

    @property
    def admin_url(self) -> str:
        return self._admin

    @property
    def metrics_url(self) -> str:
        return self._metrics

    def _refuse(self, what: str) -> GatewayUnsupported:
        return GatewayUnsupported(
            f"cannot {what} the Sync Gateway at {self._public}: it was given by URL and runs "
            "elsewhere; use the local or docker backend to control its lifecycle"
        )

    def start(self) -> None:
        raise self._refuse("start")

    def stop(self) -> None:
        raise self._refuse("stop")

    def restart(self) -> None:
        raise self._refuse("restart")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self._public}/", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise GatewayStartError(f"Sync Gateway at {self._public} not ready after {timeout:.0f}s: {last}")

    def log_tail(self, lines: int = 50) -> str:
        return f"(logs of the Sync Gateway at {self._public} are not reachable from the rig)"
