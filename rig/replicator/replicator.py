"""The replicator: a pure state machine over BLIP events, as a Couchbase Lite release replicates.

The checkpoint is read with `getCheckpoint` (legacy) or `getCollections` (collection-aware
releases). It owns no socket and reads no clock of its own: the driver feeds it BLIP
events and flushes `blip.data_to_send()`; time comes from an injected clock.

States::

    STARTING --checkpoint read--> RUNNING --one-shot: pull and push idle--> SAVING --> DONE
                                     |  \\--stop()-------------------------> SAVING
                                     \\--peer error--> FAILED
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rig._errors import RemoteDataError, ReplicationError
from rig.blip import BlipConnection, BlipEvent, ErrorResponse, Request, Response
from rig.replicator.clients import DEFAULT_RELEASE, RELEASES, ClientRelease
from rig.replicator.link import EventKind, Link, Observer, ReplicationStats
from rig.replicator.pull import Puller, PullOptions
from rig.replicator.push import Pusher
from rig.replicator.resume import resume_point
from rig.replicator.store import LocalStore

CHECKPOINT_INTERVAL_S = 5.0
# What reading the gateway's content may raise when it does not have the protocol's shape
# (ValueError covers JSONDecodeError and UnicodeDecodeError).
_PEER_DATA_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, ArithmeticError)
"""What reading the gateway's JSON as the protocol shapes it raises on content of another shape (a
status of `Infinity` in a proposeChanges reply: OverflowError, found by the fuzz test)."""


def collections_request(database_uuid: str, checkpoint_ids: list[str],
                        collections: tuple[str, ...]) -> tuple[dict[str, str], bytes]:
    """`getCollections` (LiteCore `Replicator::getCollections`): one checkpoint ID per collection, in order."""
    body = {"checkpoint_ids": checkpoint_ids, "collections": list(collections)}
    return {"Profile": "getCollections", "uuid": database_uuid}, json.dumps(body, separators=(",", ":")).encode()


def collection_entries(reply: Response | ErrorResponse, collections: tuple[str, ...]) -> list[Any]:
    """The `getCollections` reply: one entry per collection asked for (a checkpoint, `{}`, or null)."""
    if isinstance(reply, ErrorResponse):
        raise ReplicationError(f"getCollections failed: {reply.domain} {reply.code} {reply.message}")
    entries = json.loads(reply.body) if reply.body else None
    if not isinstance(entries, list) or len(entries) != len(collections):
        raise RemoteDataError(f"getCollections answered {entries!r} for {len(collections)} collection(s)",
                              profile="getCollections")
    return entries


class ReplicatorState(Enum):
    STARTING = "starting"
    RUNNING = "running"
    SAVING = "saving"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ReplicatorConfig:
    checkpoint_id: str
    push: bool = True
    pull: bool = True
    continuous: bool = False
    channels: tuple[str, ...] = ()
    checkpoint_interval: float = CHECKPOINT_INTERVAL_S
    """Seconds between checkpoint saves while replicating (one-shot too, so a killed wake resumes)."""
    release: ClientRelease = RELEASES[DEFAULT_RELEASE]
    """The Couchbase Lite release whose wire behaviour this replication follows."""
    database_uuid: str = ""
    """The local database's public UUID, sent with `getCollections` (Sync Gateway ignores it)."""
    collections: tuple[str, ...] = ("_default",)
    """Collections replicated: `_default` and/or `scope.name`. A Replicator runs one; several run as
    `rig.replicator.collections.CollectionsReplicator` (one Replicator each on one connection)."""


class Replicator:
    def __init__(self, blip: BlipConnection, store: LocalStore, config: ReplicatorConfig, *,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 observer: Observer | None = None, stats: ReplicationStats | None = None) -> None:
        if not (config.push or config.pull):
            raise ValueError("a replicator must push, pull, or both")
        if config.release.uses_version_vectors != store.uses_version_vectors:
            raise ValueError(f"a Couchbase Lite {config.release} replicator needs a {config.release.versioning.value} "
                             f"database, not {store.versioning.value}")
        if len(config.collections) != 1:
            raise ValueError("a Replicator runs one collection; CollectionsReplicator runs several")
        self.config = config
        self.link = Link(blip, store, observer, stats=stats, collection_name=config.collections[0])
        self.state = ReplicatorState.STARTING
        self.error: str | None = None
        self.failure: ReplicationError | None = None
        """The typed error that failed the replication (its message is `error`)."""
        self.puller = Puller(self.link, PullOptions(config.continuous, config.channels),
                             on_local_win=self.local_changed) if config.pull else None
        self.pusher = Pusher(self.link, continuous=config.continuous) if config.push else None
        self._clock = clock
        self._wall_clock = wall_clock
        self._checkpoint_rev: str | None = None
        self._saved: dict[str, Any] | None = None
        self._last_save = clock()
        self._save_in_flight = False
        self._stop_requested = False
        self._first_sync = False

    @property
    def stats(self) -> ReplicationStats:
        return self.link.stats

    @property
    def collection_aware(self) -> bool:
        """`getCollections` first: always from 3.4/4.1; in 3.x whenever it is not the default collection alone
        (LiteCore `Options::collectionAware`)."""
        return self.config.release.collections_first or self.config.collections != ("_default",)

    @property
    def finished(self) -> bool:
        return self.state in (ReplicatorState.DONE, ReplicatorState.FAILED)

    @property
    def caught_up(self) -> bool:
        """Exact: the caught-up marker came, every requested revision is stored, nothing left to push."""
        pulled = self.puller is None or self.puller.idle
        pushed = self.pusher is None or self.pusher.idle
        return self.state is not ReplicatorState.STARTING and pulled and pushed

    # Driving ---------------------------------------------------------------------------------
    def start(self) -> None:
        release, cp = self.config.release, self.config.checkpoint_id
        store = self.link.store
        # LiteCore (getLocalCheckpoint): pulling into a database that never held a document, with no
        # local checkpoint, skips deleted revisions (`activeOnly`): a fresh install pulls no tombstones.
        self._first_sync = cp not in store.checkpoints and store.last_sequence == 0
        if self.collection_aware:
            self.link.request(*collections_request(self.config.database_uuid, [cp], self.config.collections),
                              on_reply=self._on_collections)
        elif release.waits_for_checkpoint_without_local or cp in self.link.store.checkpoints:
            self.link.request({"Profile": "getCheckpoint", "client": cp}, on_reply=self._on_checkpoint)
        else:
            # Couchbase Lite 3.3 with no local checkpoint starts from 0 at once; the reply only
            # brings the checkpoint's revision for the first save.
            self.link.request({"Profile": "getCheckpoint", "client": cp}, on_reply=self._on_checkpoint_revision)
            self._begin({}, since=0)

    def handle(self, event: BlipEvent) -> None:
        """Feed one BLIP event from the gateway."""
        if self.finished:
            return
        try:
            try:
                if isinstance(event, Request):
                    self._on_request(event)
                elif not self.link.deliver_reply(event):
                    return
                self._progress()
            except _PEER_DATA_ERRORS as exc:
                # The trust boundary: the handlers read the gateway's JSON as the protocol shapes it;
                # content of another shape is the gateway's protocol error, not a crash of ours.
                what = event.profile if isinstance(event, Request) else f"reply to #{event.number}"
                raise RemoteDataError(f"the gateway sent content the replicator cannot accept ({what}): "
                                      f"{type(exc).__name__}: {exc}", profile=what or "") from exc
        except ReplicationError as exc:
            self._fail(str(exc), exc)

    def local_changed(self) -> None:
        """The device edited its database: a continuous push proposes it now."""
        if self.pusher is not None and self.state is ReplicatorState.RUNNING:
            self.pusher.notify_local_change()

    def tick(self) -> None:
        """Called now and then by the driver: save the checkpoint when it is due and has moved."""
        if self.state is ReplicatorState.RUNNING and \
                self._clock() - self._last_save >= self.config.checkpoint_interval:
            try:
                self._save_checkpoint()
            except _PEER_DATA_ERRORS as exc:  # sequences from the gateway that do not compare
                self._fail(f"the gateway's sequences make no checkpoint: {type(exc).__name__}: {exc}",
                           RemoteDataError(f"checkpoint: {exc}", profile="setCheckpoint"))

    def stop(self) -> None:
        """Save the checkpoint, then finish (a clean stop of a continuous replication)."""
        self._stop_requested = True
        if self.state is ReplicatorState.RUNNING:
            self.state = ReplicatorState.SAVING
            self._save_checkpoint(force=True)
        elif self.state is ReplicatorState.STARTING:
            self.state = ReplicatorState.DONE

    # Requests from the gateway ---------------------------------------------------------------
    def _on_request(self, request: Request) -> None:
        profile = request.profile
        puller, pusher = self.puller, self.pusher
        if profile == "changes" and puller is not None:
            puller.on_changes(request)
        elif profile == "rev" and puller is not None:
            puller.on_rev(request)
        elif profile == "norev" and puller is not None:
            puller.on_norev(request)
        elif profile == "getAttachment" and pusher is not None:
            pusher.on_get_attachment(request)
        elif profile == "proveAttachment" and pusher is not None:
            pusher.on_prove_attachment(request)
        elif not request.no_reply:
            self.link.blip.send_error(request.number, domain="BLIP", code=404,
                                      message="No handler for BLIP request")

    # Checkpoints -----------------------------------------------------------------------------
    def _on_collections(self, reply: Response | ErrorResponse) -> None:
        self.accept_collection(collection_entries(reply, self.config.collections)[0], 0)

    def accept_collection(self, entry: dict[str, Any] | None, index: int) -> None:
        """This collection's entry of the `getCollections` reply (at `index`): its checkpoint, then replicate."""
        if entry is None:
            raise ReplicationError(f"Collection '{self.config.collections[0]}' is not found on the remote server")
        if not isinstance(entry, dict):
            raise RemoteDataError(f"getCollections entry {index} is {entry!r}, not a checkpoint",
                                  profile="getCollections")
        remote = {k: v for k, v in dict(entry).items() if k not in ("_rev", "rev")}
        # Sync Gateway puts the revision inside as `_rev`; LiteCore 3.4/4.1 look for `rev`.
        key = "rev" if self.config.release.reads_checkpoint_rev_property else "_rev"
        self._checkpoint_rev = entry.get(key)
        self.link.collection = str(index)
        self._resume(remote)
        # A collection with nothing to do (a push-only one-shot, nothing pending) is done now: no
        # later message of its own would come to tell it (the reply went to the collections' group).
        self._progress()

    def _on_checkpoint_revision(self, reply: Response | ErrorResponse) -> None:
        if isinstance(reply, Response) and self._checkpoint_rev is None and not self._save_in_flight:
            self._checkpoint_rev = reply.properties.get("rev")

    def _on_checkpoint(self, reply: Response | ErrorResponse) -> None:
        remote: dict[str, Any] = {}
        if isinstance(reply, Response):
            self._checkpoint_rev = reply.properties.get("rev")
            remote = json.loads(reply.body) if reply.body else {}
        elif reply.code != 404:
            raise ReplicationError(f"getCheckpoint failed: {reply.domain} {reply.code} {reply.message}")
        self._resume(remote)

    def _resume(self, remote: dict[str, Any]) -> None:
        local = self.link.store.checkpoints.get(self.config.checkpoint_id)
        since = resume_point(local, remote, orders_compound=self.config.release.orders_compound_sequences)
        self._begin(remote, since)

    def _begin(self, remote: dict[str, Any], since: Any) -> None:
        self._saved = dict(remote) if remote else None
        self.state = ReplicatorState.RUNNING
        if self._stop_requested:
            self.stop()
            return
        if self.puller is not None:
            self.puller.start(since, active_only=self._first_sync)
        if self.pusher is not None:
            self.pusher.start()

    def _checkpoint_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"time": int(self._wall_clock())}
        pending = self.link.store.pending()
        body["local"] = (pending[0].local_seq - 1) if pending else self.link.store.last_sequence
        if self.puller is not None:
            # LiteCore writes no `remote` before the puller has a position (an empty RemoteSequence):
            # a device killed then resumes from 0 because it had none, not because its copy said 0.
            if self.puller.tracker.checkpoint not in (0, None):
                body["remote"] = self.puller.tracker.checkpoint
        elif self._saved and "remote" in self._saved:
            body["remote"] = self._saved["remote"]
        return body

    def _save_checkpoint(self, *, force: bool = False) -> None:
        if self._save_in_flight:
            return
        body = self._checkpoint_body()
        self._last_save = self._clock()
        unchanged = self._saved is not None and all(self._saved.get(k) == body.get(k) for k in ("local", "remote"))
        if unchanged and not force:
            return
        if unchanged and self.state is ReplicatorState.SAVING:
            self.state = ReplicatorState.DONE
            return
        props = {"Profile": "setCheckpoint", "client": self.config.checkpoint_id}
        if self._checkpoint_rev:
            props["rev"] = self._checkpoint_rev
        self._save_in_flight = True
        self.link.request(props, json.dumps(body).encode(), on_reply=lambda r: self._on_saved(body, r))

    def _on_saved(self, body: dict[str, Any], reply: Response | ErrorResponse) -> None:
        self._save_in_flight = False
        if isinstance(reply, ErrorResponse):
            if reply.code == 409:
                # Someone else moved the checkpoint: re-read its revision, then save again.
                self.link.request({"Profile": "getCheckpoint", "client": self.config.checkpoint_id},
                                  on_reply=self._on_reread)
                return
            # LiteCore logs it (gotError) and marks the save done: the replication goes on, the
            # device's own checkpoint stays where it was (a 503 closed the connection before this).
            self.link.report(EventKind.ERROR, detail=f"{reply.domain} {reply.code}: setCheckpoint: {reply.message}")
            if self.state is ReplicatorState.SAVING:
                self.state = ReplicatorState.DONE
            return
        self._checkpoint_rev = reply.properties.get("rev", self._checkpoint_rev)
        self._saved = body
        self.link.store.checkpoints[self.config.checkpoint_id] = dict(body)
        self.link.report(EventKind.CHECKPOINT_SAVED, detail=json.dumps(body))
        if self.state is ReplicatorState.SAVING:
            self.state = ReplicatorState.DONE

    def _on_reread(self, reply: Response | ErrorResponse) -> None:
        self._checkpoint_rev = reply.properties.get("rev") if isinstance(reply, Response) else None
        self._save_checkpoint(force=True)

    # Progress --------------------------------------------------------------------------------
    def _progress(self) -> None:
        if self.state is ReplicatorState.RUNNING and not self.config.continuous and self.caught_up:
            self.state = ReplicatorState.SAVING
            self._save_checkpoint(force=True)

    def _fail(self, message: str, failure: ReplicationError | None = None) -> None:
        self.error = message
        self.failure = failure
        self.state = ReplicatorState.FAILED
        self.link.report(EventKind.ERROR, detail=message)
