"""The seam between the BLIP layers and the network: a `Transport` moves whole binary messages.

The replicator's driver only needs these four members, so unit tests hand it an in-memory
stand-in, and `WebSocketTransport` is the real thing (the only socket code in the rig).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@runtime_checkable
class Transport(Protocol):
    """A message-oriented, bidirectional connection to one peer.

    One BLIP frame is one message. `send` may be called from another thread while a
    `recv` is blocked; `recv` itself is single-reader.
    """

    @property
    def subprotocol(self) -> str:
        """The application protocol agreed with the peer, e.g. ``BLIP_3+CBMobile_3``."""
        ...

    def send(self, messages: Iterable[bytes]) -> None:
        """Send each item as one binary message, in order, with as few writes as possible.

        Raises ConnectionClosed when the connection is closed, TransportError when it breaks.
        """
        ...

    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next message; None once the peer has closed (or the stream ended).

        Raises ReadTimeout when nothing arrived within `timeout` seconds (None: wait forever).
        """
        ...

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close cleanly; idempotent."""
        ...


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP Basic credentials, sent preemptively with the upgrade request (as CBL does)."""

    username: str
    password: str = field(repr=False)

    def header(self) -> tuple[str, str]:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return "Authorization", f"Basic {token}"


@dataclass(frozen=True, slots=True)
class SessionAuth:
    """A Sync Gateway session cookie (``SyncGatewaySession=<id>`` unless the database renamed it)."""

    cookie_name: str
    session_id: str = field(repr=False)

    def header(self) -> tuple[str, str]:
        return "Cookie", f"{self.cookie_name}={self.session_id}"
