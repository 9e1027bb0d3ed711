"""Several collections in one replication: one `getCollections`, then one Replicator per collection.

As LiteCore's `Replicator` with its sub-replicators: a single connection and a single
`getCollections` naming every collection (one checkpoint ID each); its reply gives each
collection its checkpoint, and from then on each collection is a `Replicator` of its own (its
`Link` puts `collection=<index>` on every message, its own puller, pusher and checkpoint, its own
documents in the local database). Requests from the gateway go to the collection their
`collection` property names; replies go to whichever collection awaits them. The replication is
done when every collection is, and fails when any does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from rig._errors import RemoteDataError, ReplicationError
from rig.blip import BlipConnection, BlipEvent, ErrorResponse, Request, Response
from rig.replicator.checkpoint import collection_checkpoint_id
from rig.replicator.link import EventKind, Observer, ReplicationStats
from rig.replicator.replicator import (
    Replicator,
    ReplicatorConfig,
    ReplicatorState,
    collection_entries,
    collections_request,
)
from rig.replicator.store import LocalStore, normalize_collection

# What reading the gateway's getCollections reply may raise when it does not have the protocol's shape.
_PEER_DATA_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


class CollectionsReplicator:
    """The replicator of a replication over several collections; the same driving interface as `Replicator`."""

    def __init__(self, blip: BlipConnection, database: LocalStore, config: ReplicatorConfig, *,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 observer: Observer | None = None) -> None:
        collections = tuple(normalize_collection(c) for c in config.collections)
        if not collections or len(set(collections)) != len(collections):
            raise ValueError(f"collections must be distinct and at least one: {config.collections}")
        self.config = config
        self.blip = blip
        self.stats_shared = ReplicationStats()
        self.parts = [
            Replicator(blip, database.collection(name), dataclasses.replace(
                config, collections=(name,),
                checkpoint_id=collection_checkpoint_id(config.checkpoint_id, name, push=config.push, pull=config.pull)),
                clock=clock, wall_clock=wall_clock, observer=observer, stats=self.stats_shared)
            for name in collections]
        self.collections = collections
        self._answered = False
        self._awaiting_collections: int | None = None
        self._stopped_early = False
        self._failure: ReplicationError | None = None

    # What the driver reads -------------------------------------------------------------------
    @property
    def stats(self) -> ReplicationStats:
        return self.stats_shared

    @property
    def state(self) -> ReplicatorState:
        if self._failure is not None or any(p.state is ReplicatorState.FAILED for p in self.parts):
            return ReplicatorState.FAILED
        if self._stopped_early or all(p.state is ReplicatorState.DONE for p in self.parts):
            return ReplicatorState.DONE
        if not self._answered:
            return ReplicatorState.STARTING
        if all(p.state in (ReplicatorState.SAVING, ReplicatorState.DONE) for p in self.parts):
            return ReplicatorState.SAVING
        return ReplicatorState.RUNNING

    @property
    def finished(self) -> bool:
        return self.state in (ReplicatorState.DONE, ReplicatorState.FAILED)

    @property
    def caught_up(self) -> bool:
        return self._answered and all(p.caught_up for p in self.parts)

    @property
    def failure(self) -> ReplicationError | None:
        if self._failure is not None:
            return self._failure
        return next((p.failure for p in self.parts if p.failure is not None), None)

    @property
    def error(self) -> str | None:
        if self._failure is not None:
            return str(self._failure)
        return next((p.error for p in self.parts if p.error is not None), None)

    # Driving ---------------------------------------------------------------------------------
    def start(self) -> None:
        props, body = collections_request(self.config.database_uuid, [p.config.checkpoint_id for p in self.parts],
                                          self.collections)
        self._awaiting_collections = self.blip.send_request(props, body)

    def handle(self, event: BlipEvent) -> None:
        if self.finished:
            return
        if isinstance(event, Request):
            self._route_request(event)
        elif event.number == self._awaiting_collections:
            self._awaiting_collections = None
            self._on_collections(event)
        else:
            part = next((p for p in self.parts if p.link.awaits(event.number)), None)
            if part is not None:
                part.handle(event)

    def _route_request(self, request: Request) -> None:
        raw = request.properties.get("collection")
        index = int(raw) if raw is not None and raw.isdigit() else -1
        if not self._answered or not 0 <= index < len(self.parts):
            if not request.no_reply:
                self.blip.send_error(request.number, domain="BLIP", code=400,
                                     message=f"Invalid collection {raw!r} for {request.profile}")
            return
        self.parts[index].handle(request)

    def _on_collections(self, reply: Response | ErrorResponse) -> None:
        try:
            try:
                entries: list[Any] = collection_entries(reply, self.collections)
                # As LiteCore: every entry is checked before any collection starts replicating.
                missing = [name for name, entry in zip(self.collections, entries, strict=True) if entry is None]
                if missing:
                    raise ReplicationError(f"Collection '{missing[0]}' is not found on the remote server")
                self._answered = True
                for index, (part, entry) in enumerate(zip(self.parts, entries, strict=True)):
                    part.accept_collection(entry, index)
            except _PEER_DATA_ERRORS as exc:
                raise RemoteDataError(f"the gateway sent content the replicator cannot accept (getCollections): "
                                      f"{type(exc).__name__}: {exc}", profile="getCollections") from exc
        except ReplicationError as exc:
            self._failure = exc
            self.parts[0].link.report(EventKind.ERROR, detail=str(exc))

    def local_changed(self) -> None:
        for part in self.parts:
            part.local_changed()

    def tick(self) -> None:
        for part in self.parts:
            part.tick()

    def stop(self) -> None:
        if not self._answered:
            self._stopped_early = True
        for part in self.parts:
            part.stop()
