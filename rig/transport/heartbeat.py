"""The WebSocket heartbeat of Couchbase Lite, as a pure state machine (time is passed in).

LiteCore's WebSocketImpl (Networking/WebSockets/WebSocketImpl.cc): once connected, a
PING goes out when nothing at all has been received for the heartbeat interval (5
minutes by default); after the PING, if still nothing arrives within the pong timeout
(20 s, or interval - 1 s if that is shorter), the connection is taken as dead: the
socket is closed and the replicator sees a network timeout, which is transient (it
retries). Any bytes received count, not only the PONG. Sync Gateway never pings
(its WebSocket library answers ours), so an idle continuous replication sends one ping
every 5 minutes.

One simplification: when bytes other than a PONG arrive after a PING and the PONG never
does, LiteCore stops pinging for the rest of the connection; here the schedule simply
goes on from the last byte received (Sync Gateway always answers a PING).
"""

from __future__ import annotations

from enum import Enum

HEARTBEAT_INTERVAL_S = 300.0
PONG_TIMEOUT_S = 20.0


class HeartbeatAction(Enum):
    NONE = "none"
    PING = "ping"
    """Send a PING now."""
    TIMED_OUT = "timed_out"
    """No answer to the PING in time: close the socket, report a network timeout."""


class Heartbeat:
    def __init__(self, now: float, *, interval: float = HEARTBEAT_INTERVAL_S,
                 pong_timeout: float = PONG_TIMEOUT_S) -> None:
        if interval <= 0 or pong_timeout <= 0:
            raise ValueError("heartbeat interval and pong timeout must be positive")
        self.interval = interval
        # LiteCore: min(kPongTimeout, interval - 1 s); intervals under a second (tests) keep the timeout given.
        self.pong_timeout = min(pong_timeout, interval - 1.0) if interval > 1.0 else pong_timeout
        self.last_receive = now
        self.ping_sent_at: float | None = None
        self.pings_sent = 0

    def received(self, now: float) -> None:
        """Bytes arrived (any frame, a PONG included)."""
        self.last_receive = now
        self.ping_sent_at = None

    def next_due(self) -> float:
        """When `poll` has something to do, at the earliest."""
        if self.ping_sent_at is not None:
            return self.ping_sent_at + self.pong_timeout
        return self.last_receive + self.interval

    def poll(self, now: float) -> HeartbeatAction:
        if self.ping_sent_at is not None:
            if now >= self.ping_sent_at + self.pong_timeout:
                return HeartbeatAction.TIMED_OUT
            return HeartbeatAction.NONE
        if now - self.last_receive >= self.interval:
            self.ping_sent_at = now
            self.pings_sent += 1
            return HeartbeatAction.PING
        return HeartbeatAction.NONE
