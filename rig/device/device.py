"""A virtual Couchbase Lite device: identity, credentials, local database, replication over BLIP."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from rig.replicator import LocalStore, ReplicatorConfig, checkpoint_id
from rig.replicator.clients import DEFAULT_RELEASE, ClientRelease, client_release
from rig.replicator.link import Observer, ReplicationStats
from rig.replicator.session import SyncSession
from rig.transport import BasicAuth, SessionAuth, WebSocketTransport
from rig.transport.heartbeat import HEARTBEAT_INTERVAL_S, PONG_TIMEOUT_S


def blipsync_url(url: str) -> str:
    """`ws[s]://host:port/db/_blipsync` from a database URL given as http(s):// or ws(s)://."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if not path.endswith("/_blipsync"):
        path += "/_blipsync"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


@dataclass(slots=True)
class Credentials:
    username: str
    password: str | None = field(default=None, repr=False)
    session: tuple[str, str] | None = field(default=None, repr=False)
    """(cookie name, session id): skips bcrypt on the gateway at every connect."""

    def auth(self) -> BasicAuth | SessionAuth:
        if self.session is not None:
            return SessionAuth(*self.session)
        if self.password is None:
            raise ValueError(f"user {self.username!r} has neither a password nor a session")
        return BasicAuth(self.username, self.password)


@dataclass(slots=True)
class VirtualDevice:
    """One app install on one phone: a user's device with its own database and checkpoint."""

    url: str
    """The database URL (http(s):// or ws(s)://host:port/db)."""
    credentials: Credentials
    name: str = ""
    device_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    store: LocalStore = field(default_factory=LocalStore)
    """The local database; an empty default one takes the release's versioning."""
    cbl: ClientRelease | str = DEFAULT_RELEASE
    """The Couchbase Lite release this device behaves as (see rig.replicator.clients)."""
    subprotocols: tuple[str, ...] | None = None
    """Sub-protocols to offer; None: what the release offers for the replication's direction."""
    channels: tuple[str, ...] = ()
    collections: tuple[str, ...] = ("_default",)
    """Collections replicated: `_default` and/or `scope.name` (each kept apart in `store.collection(name)`)."""
    connect_timeout: float = 30.0
    checkpoint_interval: float = 5.0
    session: SyncSession | None = None
    heartbeat: tuple[float, float] | None = (HEARTBEAT_INTERVAL_S, PONG_TIMEOUT_S)
    """(seconds without a byte received before a WebSocket PING, seconds to wait for an answer), or None."""
    via: tuple[str, int] | None = None
    """Connect through this (host, port), a link proxy of `rig.faults.proxy`; URL and checkpoint stay the same."""

    def __post_init__(self) -> None:
        self.cbl = client_release(self.cbl)
        if self.store.versioning is not self.cbl.versioning:
            if self.store.docs:
                raise ValueError(f"a Couchbase Lite {self.cbl} device needs a {self.cbl.versioning.value} database, "
                                 f"not {self.store.versioning.value}")
            self.store = LocalStore(self.cbl.versioning)
        self.url = blipsync_url(self.url)
        if not self.name:
            self.name = f"{self.credentials.username}:{self.device_uuid[:8]}"

    @property
    def release(self) -> ClientRelease:
        return client_release(self.cbl)

    @property
    def checkpoint_id(self) -> str:
        return checkpoint_id(self.device_uuid, self.url, self.channels)

    def sync(self, *, push: bool = True, pull: bool = True, continuous: bool = False,
             timeout: float | None = None, stop: threading.Event | None = None,
             observer: Observer | None = None, on_connected: Callable[[], None] | None = None) -> ReplicationStats:
        """Connect, replicate (one-shot by default), disconnect. See SyncSession.run for errors.

        `on_connected` is called once the WebSocket is open (Couchbase Lite resets its retry count there).
        """
        self.session = self.open_session(push=push, pull=pull, continuous=continuous, observer=observer)
        if on_connected is not None:
            on_connected()
        try:
            return self.session.run(timeout=timeout, stop=stop)
        finally:
            self.session = None

    def open_session(self, *, push: bool = True, pull: bool = True, continuous: bool = False,
                     observer: Observer | None = None) -> SyncSession:
        """Connect and return the replication, not started: `sync()` runs it on this thread, an event
        loop (rig.device.loop) drives it with `begin()`/`pump()`."""
        transport = WebSocketTransport.connect(self.url, subprotocols=self.offered(push=push, pull=pull),
                                               auth=self.credentials.auth(), timeout=self.connect_timeout,
                                               connect_to=self.via, heartbeat=self.heartbeat)
        return self.session_over(transport, push=push, pull=pull, continuous=continuous, observer=observer)

    def offered(self, *, push: bool = True, pull: bool = True) -> tuple[str, ...]:
        """The sub-protocols this device offers for a replication in those directions."""
        return self.subprotocols or tuple(self.release.subprotocols(push=push, pull=pull))

    def session_over(self, transport: WebSocketTransport, *, push: bool = True, pull: bool = True,
                     continuous: bool = False, observer: Observer | None = None) -> SyncSession:
        """The replication over a WebSocket already open (`open_session`, or one opened on an event loop)."""
        config = ReplicatorConfig(self.checkpoint_id, push=push, pull=pull, continuous=continuous,
                                  channels=self.channels, checkpoint_interval=self.checkpoint_interval,
                                  release=self.release, database_uuid=self.device_uuid, collections=self.collections)
        return SyncSession(transport, self.store, config, observer=observer)

    def local_changed(self) -> None:
        """Tell a running continuous replication that the app saved something."""
        session = self.session
        if session is not None:
            session.local_changed()
