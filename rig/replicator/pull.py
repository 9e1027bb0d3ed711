"""The pull side: subChanges, answering changes, storing rev / norev, fetching attachments, purging."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from rig._errors import ReplicationError
from rig.blip import ErrorResponse, Request, Response
from rig.replicator.checkpoint import SequenceTracker
from rig.replicator.link import EventKind, Link
from rig.replicator.revisions import attachment_digest
from rig.replicator.store import InsertOutcome
from rig.replicator.versions import VersionVector, is_rev_tree_id

# Changes-row flags (CBMobile_3+): a revoked or removed row is purged locally,
# except exactly "deleted + removed", which is an ordinary tombstone.
_DELETED, _REVOKED, _REMOVED = 1, 2, 4
MAX_HISTORY = 20


@dataclass(frozen=True, slots=True)
class PullOptions:
    continuous: bool = False
    channels: tuple[str, ...] = ()
    batch: int = 200


class _IncomingRev:
    """A rev waiting for its attachments before it can be stored."""

    __slots__ = ("body", "deleted", "doc_id", "history", "missing", "request", "rev")

    def __init__(self, request: Request, doc_id: str, rev: str, history: str, body: bytes,
                 deleted: bool, missing: set[str]) -> None:
        self.request = request
        self.doc_id = doc_id
        self.rev = rev
        self.history = history
        """The `history` property as sent: rev-tree IDs, or the rest of a version vector."""
        self.body = body
        self.deleted = deleted
        self.missing = missing


class Puller:
    def __init__(self, link: Link, options: PullOptions, *, on_local_win: Callable[[], None]) -> None:
        self.link = link
        self.options = options
        self.tracker = SequenceTracker()
        self.caught_up = False
        self.subscribed = False
        self.failed: str | None = None
        self._on_local_win = on_local_win
        self._waiting_attachments = 0

    @property
    def idle(self) -> bool:
        """Caught up, and every requested revision (and its attachments) stored."""
        return self.caught_up and self.tracker.outstanding == 0 and self._waiting_attachments == 0

    def start(self, since: Any, *, active_only: bool = False) -> None:
        """Subscribe from `since`; `active_only`: no deleted or removed rows (a first sync into an empty database)."""
        self.tracker = SequenceTracker(since)
        props = {"Profile": "subChanges", "since": json.dumps(since),
                 "continuous": "true" if self.options.continuous else "false",
                 "batch": str(self.options.batch), "revocations": "true",
                 "versioning": self.link.store.versioning.value}
        if active_only:
            props["activeOnly"] = "true"
        if self.options.channels:
            props["filter"] = "sync_gateway/bychannel"
            props["channels"] = ",".join(self.options.channels)
        self.link.request(props, on_reply=self._subscribed)

    def _subscribed(self, reply: Response | ErrorResponse) -> None:
        if isinstance(reply, ErrorResponse):
            self.failed = f"subChanges refused: {reply.domain} {reply.code} {reply.message}"
            raise ReplicationError(self.failed)
        self.subscribed = True

    # changes ---------------------------------------------------------------------------------
    def on_changes(self, request: Request) -> None:
        rows = json.loads(request.body) if request.body else None
        if rows is None:
            self.caught_up = True
            self.link.report(EventKind.CAUGHT_UP)
            return
        store, tracker, stats = self.link.store, self.tracker, self.link.stats
        answers: list[Any] = []
        for row in rows:
            seq, doc_id, rev = row[0], row[1], row[2]
            flags = row[3] if len(row) > 3 else 0
            flags = _DELETED if flags is True else int(flags)
            stats.changes_rows += 1
            if flags & (_REVOKED | _REMOVED) and flags != (_DELETED | _REMOVED):
                if store.purge(doc_id):
                    stats.purged += 1
                    self.link.report(EventKind.PURGED, doc_id, rev,
                                     "revoked" if flags & _REVOKED else "removed")
                answers.append(0)
                tracker.add(seq, doc_id, rev, requested=False)
            elif store.has_revision(doc_id, rev):
                answers.append(0)
                tracker.add(seq, doc_id, rev, requested=False)
            else:
                answers.append(store.known_revs(doc_id))
                tracker.add(seq, doc_id, rev, requested=True)
        while answers and answers[-1] == 0:
            answers.pop()
        if not request.no_reply:
            body = json.dumps(answers, separators=(",", ":")).encode()
            # LiteCore asks for a history depth only for rev trees; a vector comes whole.
            props = None if store.uses_version_vectors else {"maxHistory": str(MAX_HISTORY)}
            self.link.blip.send_response(request.number, props, body, compress=len(body) > 256)

    # rev / norev -----------------------------------------------------------------------------
    def on_rev(self, request: Request) -> None:
        props = request.properties
        doc_id, rev = props.get("id", ""), props.get("rev", "")
        history = props.get("history", "")
        deleted = props.get("deleted", "0") not in ("0", "false", "")
        body = request.body or b"{}"
        self.link.stats.bytes_pulled += len(body)
        if b'"_removed"' in body and json.loads(body).get("_removed") is True:
            # The user can no longer read this document: Couchbase Lite auto-purges it.
            if self.link.store.purge(doc_id):
                self.link.stats.purged += 1
                self.link.report(EventKind.PURGED, doc_id, rev, "removed")
            self._finish(request, doc_id, rev)
            return
        missing: set[str] = set()
        if b'"_attachments"' in body:
            stubs = json.loads(body).get("_attachments") or {}
            missing = {s["digest"] for s in stubs.values()
                       if isinstance(s, dict) and s.get("digest") and s["digest"] not in self.link.store.blobs}
        incoming = _IncomingRev(request, doc_id, rev, history, body, deleted, missing)
        if not missing:
            self._store(incoming)
            return
        self._waiting_attachments += 1
        for digest in sorted(missing):
            self.link.request({"Profile": "getAttachment", "digest": digest, "docID": doc_id},
                              on_reply=partial(self._on_attachment, incoming, digest))

    def _on_attachment(self, incoming: _IncomingRev, digest: str, reply: Response | ErrorResponse) -> None:
        if isinstance(reply, ErrorResponse):
            self.link.report(EventKind.ERROR, incoming.doc_id, incoming.rev,
                             f"{reply.domain} {reply.code}: getAttachment {digest}: {reply.message}")
        elif attachment_digest(reply.body) != digest:
            self.link.report(EventKind.ERROR, incoming.doc_id, incoming.rev,
                             f"digest mismatch: attachment {digest} arrived as {attachment_digest(reply.body)}")
        else:
            self.link.store.blobs[digest] = reply.body
            self.link.stats.attachments_pulled += 1
        incoming.missing.discard(digest)
        if not incoming.missing:
            self._waiting_attachments -= 1
            self._store(incoming)

    def _store(self, incoming: _IncomingRev) -> None:
        link = self.link
        if link.store.uses_version_vectors and not is_rev_tree_id(incoming.rev):
            vector = VersionVector.from_rev(incoming.rev, incoming.history)
            outcome = link.store.insert_remote_vector(incoming.doc_id, vector, incoming.body, incoming.deleted)
        elif link.store.uses_version_vectors:
            # A document the gateway has only as a rev tree (written before it kept vectors): not emulated.
            link.report(EventKind.ERROR, incoming.doc_id, incoming.rev,
                        "legacy rev-tree revision pulled into a version-vector database (not emulated)")
            self._finish(incoming.request, incoming.doc_id, incoming.rev)
            return
        else:
            history = tuple(incoming.history.split(",")) if incoming.history else ()
            outcome = link.store.insert_remote(incoming.doc_id, incoming.rev, history, incoming.body,
                                               incoming.deleted)
        if outcome is not InsertOutcome.ALREADY_KNOWN:
            link.stats.docs_pulled += 1
            link.report(EventKind.PULLED, incoming.doc_id, incoming.rev, "deleted" if incoming.deleted else "",
                        incoming.body)
        if outcome in (InsertOutcome.CONFLICT_LOCAL_WON, InsertOutcome.CONFLICT_REMOTE_WON):
            link.stats.conflicts += 1
            link.report(EventKind.CONFLICT, incoming.doc_id, incoming.rev, outcome.value)
            if outcome is InsertOutcome.CONFLICT_LOCAL_WON:
                self._on_local_win()
        self._finish(incoming.request, incoming.doc_id, incoming.rev)

    def _finish(self, request: Request, doc_id: str, rev: str) -> None:
        self.tracker.finish(doc_id, rev)
        if not request.no_reply:
            self.link.blip.send_response(request.number)

    def on_norev(self, request: Request) -> None:
        props = request.properties
        doc_id, rev = props.get("id", ""), props.get("rev", "")
        self.link.stats.norevs += 1
        self.link.report(EventKind.NOREV, doc_id, rev, f"{props.get('error', '')} {props.get('reason', '')}")
        self._finish(request, doc_id, rev)
