"""The push service's two admin lookups (a user's channels, a document's channels) over plain keep-alive
HTTP connections, one per routing thread.

The same requests the admin client makes, without httpx: in a load process they run for every
webhook and every user every few seconds, and httpx (its request model, h11, its pool) cost about
three times the CPU of `http.client` per lookup (docs/benchmarks.md, "Where a load process's CPU
goes"). A document's channels come from `_raw` without its body (`include_doc=false`): only the
sync metadata is read, so the gateway does not send the document back either."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from rig._errors import AdminApiError


class ChannelLookups(Protocol):
    """What the push service asks the gateway (rig.gateway.AdminClient answers it too)."""

    def user(self, db: str, name: str) -> dict[str, Any]: ...

    def doc_channels(self, db: str, doc_id: str) -> set[str]: ...


class GatewayLookups:
    """`user` and `doc_channels` as `rig.gateway.AdminClient` answers them, for a plain-HTTP admin URL."""

    def __init__(self, admin_url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(admin_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"plain HTTP admin URL expected, not {admin_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._local = threading.local()

    @staticmethod
    def usable(admin_url: str) -> bool:
        return urlsplit(admin_url).scheme == "http"

    def _get(self, path: str) -> Any:
        url = f"{self._prefix}{path}"
        for attempt in (1, 2):  # a kept-alive connection the gateway closed meanwhile: once more on a new one
            conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
                self._local.conn = conn
            try:
                conn.request("GET", url, headers={"Accept": "application/json"})
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise AdminApiError("GET", url, 0, f"{type(exc).__name__}: {exc}") from exc
                continue
            if response.status != 200:
                raise AdminApiError("GET", url, response.status, body.decode(errors="replace"))
            return json.loads(body)
        raise AssertionError("unreachable")

    def user(self, db: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/{db}/_user/{quote(name, safe='')}")
        return result

    def doc_channels(self, db: str, doc_id: str) -> set[str]:
        """The channels a document is in now, from its sync metadata (as AdminClient.doc_channels)."""
        raw = self._get(f"/{db}/_raw/{quote(doc_id, safe='')}?include_doc=false")
        sync = raw.get("_sync") or raw.get("_xattrs", {}).get("_sync") or {}
        return {name for name, removal in (sync.get("channels") or {}).items() if removal is None}
