"""The push service: receives Sync Gateway's document_changed webhooks on loopback, finds the
users who may read the document, and delivers silent pushes to their devices.

With named collections the webhook names no collection (Sync Gateway posts the document's body only):
the service looks the document up in each of the run's collections, and compares channels collection
by collection (`scope.name:channel`), as Sync Gateway grants them."""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rig._collections import keyspace
from rig._errors import AdminApiError
from rig._push_policy import Push
from rig.gateway import AdminClient
from rig.gateway.admin import user_channels
from rig.push.dispatcher import PushCounters, PushDispatcher
from rig.push.lookups import ChannelLookups, GatewayLookups

log = logging.getLogger(__name__)
_USER_CACHE_S = 2.0
_WEBHOOK_WORKERS = 4
_INBOX_LIMIT = 20_000
_REFRESH_WAIT_S = 35.0
"""Longer than a lookup may take (the admin timeout, 30 s): a waiting thread then reads the user itself."""


@dataclass(slots=True)
class PushTarget:
    """A device as the push service sees it."""

    device_id: str
    user: str
    deliver: Callable[[float], None]
    """Called with the webhook's wall time when the push reaches the device."""
    accepts: Callable[[], bool]


class PushService:
    def __init__(self, admin: AdminClient, db: str, *, host: str = "127.0.0.1", port: int = 0,
                 time_scale: float = 1.0, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic, collections: tuple[str, ...] = ()) -> None:
        self.admin = admin
        # The lookups run for every webhook and every user every few seconds: over plain keep-alive
        # connections where the admin API is plain HTTP (rig.push.lookups), else through the admin client.
        self._lookups: ChannelLookups = GatewayLookups(admin.url) \
            if isinstance(admin, AdminClient) and GatewayLookups.usable(admin.url) else admin
        self.db = db
        self.collections = collections
        """Named collections of the database (`scope.name`); () for the default collection."""
        self.dispatcher = PushDispatcher(rng or random.Random(), time_scale)
        self._clock = clock
        self._targets: dict[str, PushTarget] = {}
        self._by_user: dict[str, list[str]] = {}
        self._user_channels: dict[str, tuple[float, set[str]]] = {}
        self._refreshing: dict[str, threading.Event] = {}
        self._users_lock = threading.Lock()
        self._cond = threading.Condition()
        self._stopped = False
        self._host = host
        # Webhooks are answered at once and routed by a few workers: a burst of thousands (a bulk
        # write) must not become thousands of threads queueing on the admin client's connections.
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue(_INBOX_LIMIT)
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._threads = [threading.Thread(target=self._server.serve_forever, name="push-http", daemon=True),
                         threading.Thread(target=self._deliver_loop, name="push-deliver", daemon=True)]
        self._threads += [threading.Thread(target=self._route_loop, name=f"push-route-{i}", daemon=True)
                          for i in range(_WEBHOOK_WORKERS)]

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}/sg/doc-changed"

    @property
    def counters(self) -> PushCounters:
        return self.dispatcher.counters

    def webhook_config(self) -> dict[str, Any]:
        """The `event_handlers` section that makes Sync Gateway call this service."""
        return {"document_changed": [{"handler": "webhook", "url": self.url, "timeout": 5,
                                      "options": {"winning_rev_only": True}}]}

    def register(self, target: PushTarget, profile: Push) -> None:
        with self._cond:
            self._targets[target.device_id] = target
            self._by_user.setdefault(target.user, []).append(target.device_id)
            self.dispatcher.register(target.device_id, profile, self._clock())

    def start(self) -> PushService:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        for _ in range(_WEBHOOK_WORKERS):
            try:
                self._inbox.put_nowait(None)
            except queue.Full:
                break  # the workers see _stopped after their current webhook
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> PushService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Routing -----------------------------------------------------------------------------------
    def _channels_of(self, user: str) -> set[str]:
        """The user's channels, read at most `_USER_CACHE_S` ago. One routing thread reads a stale
        user at a time; the others wait for its answer (the cache entries expire together, and four
        threads each reading every stale user made four times the lookups)."""
        while True:
            with self._users_lock:
                cached = self._user_channels.get(user)
                if cached is not None and time.monotonic() - cached[0] <= _USER_CACHE_S:
                    return cached[1]
                pending = self._refreshing.get(user)
                mine = pending is None
                if pending is None:
                    pending = self._refreshing[user] = threading.Event()
            if not mine:
                pending.wait(_REFRESH_WAIT_S)
                continue
            channels: set[str] = set()
            try:
                channels = self._read_user_channels(user)
            finally:
                with self._users_lock:
                    self._user_channels[user] = (time.monotonic(), channels)
                    del self._refreshing[user]
                pending.set()
            return channels

    def _read_user_channels(self, user: str) -> set[str]:
        try:
            found = self._lookups.user(self.db, user)
            return {f"{c}:{ch}" for c in self.collections for ch in user_channels(found, c)} \
                if self.collections else set(found.get("all_channels") or [])
        except (AdminApiError, ValueError):
            return set()

    def enqueue(self, body: dict[str, Any]) -> None:
        """Take a webhook for routing; one that finds the queue full is counted as overflowed."""
        try:
            self._inbox.put_nowait(body)
        except queue.Full:
            with self._cond:
                self.dispatcher.counters.received += 1
                self.dispatcher.counters.overflowed += 1

    def _route_loop(self) -> None:
        while not self._stopped:
            body = self._inbox.get()
            if body is None or self._stopped:
                return
            try:
                self.on_webhook(body)
            except Exception:  # one bad webhook must never take the push service down
                log.exception("push service: webhook for %r failed", body.get("_id"))

    def on_webhook(self, body: dict[str, Any]) -> None:
        """The webhook carries the document but no channels: read them from the gateway."""
        sent_at = time.time()
        doc_id = body.get("_id")
        with self._cond:
            self.dispatcher.counters.received += 1
        if not isinstance(doc_id, str):
            return
        doc_channels = self._doc_channels(doc_id)
        if doc_channels is None:
            return
        users = [u for u in list(self._by_user) if self._may_read(self._channels_of(u), doc_channels)]
        with self._cond:
            now = self._clock()
            for user in users:
                for device_id in self._by_user[user]:
                    self.dispatcher.submit(device_id, now, sent_at)
            self._cond.notify_all()

    def _doc_channels(self, doc_id: str) -> set[str] | None:
        """The document's channels now (`scope.name:channel` with named collections), None when unreadable."""
        if not self.collections:
            try:
                return self._lookups.doc_channels(self.db, doc_id)
            except (AdminApiError, ValueError) as exc:
                log.warning("push service: cannot read channels of %s: %s", doc_id, exc)
                return None
        channels: set[str] = set()
        found = False
        for collection in self.collections:
            try:
                held = self._lookups.doc_channels(keyspace(self.db, collection), doc_id)
                channels |= {f"{collection}:{c}" for c in held}
                found = True
            except AdminApiError as exc:
                if exc.status != 404:
                    log.warning("push service: cannot read channels of %s in %s: %s", doc_id, collection, exc)
            except ValueError as exc:
                log.warning("push service: cannot read channels of %s in %s: %s", doc_id, collection, exc)
        return channels if found else None

    @staticmethod
    def _may_read(user_channels: set[str], doc_channels: set[str]) -> bool:
        if "*" in user_channels or "!" in doc_channels or user_channels & doc_channels:
            return True
        # Named collections: `scope.name:!` public, `scope.name:*` every channel of that collection.
        return any(c.endswith(":!") or f"{c.rpartition(':')[0]}:*" in user_channels for c in doc_channels if ":" in c)

    # Delivery ----------------------------------------------------------------------------------
    def _deliver_loop(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                due = self.dispatcher.next_due()
                now = self._clock()
                wait = 0.5 if due is None else max(0.0, min(0.5, due - now))
                if wait > 0:
                    self._cond.wait(wait)
                arrived = self.dispatcher.due(self._clock())
                targets = [(self._targets[d], sent) for d, sent in arrived]
            for target, sent_at in targets:
                if target.accepts():
                    with self._cond:
                        self.dispatcher.counters.delivered += 1
                    try:
                        target.deliver(sent_at)
                    except Exception:  # one device's failure must not end delivery to all the others
                        log.exception("push service: delivering to %s failed", target.device_id)
                else:
                    with self._cond:
                        self.dispatcher.counters.refused += 1


def _handler(service: PushService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return
            if isinstance(body, dict):
                service.enqueue(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("push service: " + format, *args)

    return Handler
