"""Bytes over sockets: the WebSocket transport that carries BLIP frames to Sync Gateway.

`Transport` is the seam the layers above depend on; `WebSocketTransport` is the only
implementation that touches a socket.
"""

from rig.transport.base import BasicAuth, SessionAuth, Transport
from rig.transport.websocket import DEFAULT_SUBPROTOCOLS, WebSocketTransport

__all__ = ["DEFAULT_SUBPROTOCOLS", "BasicAuth", "SessionAuth", "Transport", "WebSocketTransport"]
