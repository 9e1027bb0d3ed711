"""Sans-I/O client side of the WebSocket opening handshake (RFC 6455 §4.1), HTTP parsed by h11.

`ClientHandshake.request()` gives the upgrade request bytes; `receive(data)` takes the
socket's bytes (``b""`` at EOF) until it returns an `Accepted` (with any frame bytes that
followed the 101) or a `Rejected` (status, headers, body up to `MAX_BODY`).

What goes out, and why (Sync Gateway behaviour, BLIP replication spec §1):

* ONE ``Sec-WebSocket-Protocol`` line, comma-separated in preference order: the gateway
  reads only the first line and picks the first entry it speaks.
* no ``Sec-WebSocket-Extensions`` (BLIP compresses itself; go-blip refuses deflate);
* no ``Origin`` (a mismatch is answered 403; Couchbase Lite sends none).

A 101 must carry ``Upgrade: websocket``, ``Connection: upgrade``, the right
``Sec-WebSocket-Accept``, no extension and one of the offered subprotocols; a 101 without
a subprotocol is refused too, as Couchbase Lite does.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import h11

from rig._errors import SubprotocolRejected, TransportError

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_BODY = 64 * 1024


def accept_token(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` value the server must answer to `key` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


@dataclass(frozen=True, slots=True)
class Accepted:
    subprotocol: str
    headers: list[tuple[bytes, bytes]]
    trailing: bytes
    """Bytes after the 101 header block: the first WebSocket frames, if any."""

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode("latin-1")
        return next((v.decode("latin-1") for k, v in self.headers if k == wanted), None)


@dataclass(frozen=True, slots=True)
class Rejected:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class ClientHandshake:
    """One upgrade attempt: build the request, then parse the answer."""

    def __init__(self, host: str, target: str, subprotocols: Sequence[str],
                 headers: Sequence[tuple[str, str]] = (), *, where: str = "") -> None:
        self.subprotocols = list(subprotocols)
        self.key = base64.b64encode(os.urandom(16))
        self.where = where or host
        self._target = target
        self._host = host
        self._headers = list(headers)
        self._http = h11.Connection(h11.CLIENT)
        self._status: int | None = None
        self._response_headers: list[tuple[bytes, bytes]] = []
        self._body = bytearray()

    def request(self) -> bytes:
        headers: list[tuple[str, str]] = [
            ("Host", self._host),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", self.key.decode("ascii")),
            ("Sec-WebSocket-Version", "13"),
        ]
        if self.subprotocols:
            headers.append(("Sec-WebSocket-Protocol", ",".join(self.subprotocols)))
        headers.extend(self._headers)
        out = self._http.send(h11.Request(method="GET", target=self._target, headers=headers))
        out_end = self._http.send(h11.EndOfMessage())
        return (out or b"") + (out_end or b"")

    def receive(self, data: bytes) -> Accepted | Rejected | None:
        """Feed bytes (``b""`` = EOF); the outcome once known, else None (send more)."""
        http = self._http
        http.receive_data(data)
        while True:
            try:
                event = http.next_event()
            except h11.RemoteProtocolError as exc:
                raise TransportError(f"invalid HTTP answer to the upgrade from {self.where}: {exc}") from None
            if event is h11.NEED_DATA:
                if len(self._body) >= MAX_BODY:
                    return self._rejected()
                if not data and self._status is not None:
                    return self._rejected()
                return None
            if event is h11.PAUSED:
                # Only after a 101, which returned already; anything else is h11 misuse.
                raise TransportError(f"unexpected HTTP state after the upgrade from {self.where}")
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    return self._accepted(event)
                continue  # 100 Continue and the like: the real answer follows
            if isinstance(event, h11.Response):
                self._status = event.status_code
                self._response_headers = list(event.headers)
            elif isinstance(event, h11.Data):
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                if self._status is None:
                    raise TransportError(f"{self.where} closed the connection during the handshake")
                return self._rejected()

    def _rejected(self) -> Rejected:
        assert self._status is not None
        return Rejected(self._status, self._response_headers, bytes(self._body[:MAX_BODY]))

    def _accepted(self, event: h11.InformationalResponse) -> Accepted:
        headers = list(event.headers)
        values: dict[bytes, list[bytes]] = {}
        for name, value in headers:
            values.setdefault(name, []).append(value)

        def one(name: bytes) -> bytes:
            return b",".join(values.get(name, []))

        if one(b"upgrade").strip().lower() != b"websocket":
            raise TransportError(f"{self.where}: 101 without 'Upgrade: websocket'")
        if b"upgrade" not in [t.strip().lower() for t in one(b"connection").split(b",")]:
            raise TransportError(f"{self.where}: 101 without 'Connection: Upgrade'")
        if one(b"sec-websocket-accept").strip() != accept_token(self.key):
            raise TransportError(f"{self.where}: 101 with a wrong Sec-WebSocket-Accept")
        if one(b"sec-websocket-extensions").strip():
            raise TransportError(f"{self.where}: 101 enables an extension we did not offer: "
                                 f"{one(b'sec-websocket-extensions').decode('latin-1')}")
        chosen = one(b"sec-websocket-protocol").decode("latin-1").strip()
        if chosen not in self.subprotocols:
            raise SubprotocolRejected(
                f"{self.where} upgraded without choosing one of {self.subprotocols} (echoed {chosen!r})",
                status=101, body="")
        trailing, _closed = self._http.trailing_data
        return Accepted(chosen, headers, bytes(trailing))
