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
MAX_HISTORY = 50
"""The history depth a rev-tree device asks for in its `changes` replies (LiteCore kDefaultMaxHistory)."""


@dataclass(frozen=True, slots=True)
class PullOptions:
    continuous: bool = False
    channels: tuple[str, ...] = ()
    batch: int = 200


# LiteCore C4Blob::isLikelyCompressible: these in a content type or encoding mean already compressed;
# image/, audio/ and video/ types too; a blob without a content type is not compressed either.
_COMPRESSED_MARKS = ("zip", "zlib", "pkcs", "mpeg", "mp4", "crypt", ".rar", "-rar")
_MEDIA_PREFIXES = ("image/", "audio/", "video/")
_LITECORE_CORRUPT_DATA = 15
"""kC4ErrorCorruptData: a blob whose bytes do not match its digest (C4WriteStream::install)."""
_LITECORE_REMOTE_ERROR = 26
"""kC4ErrorRemoteError: an error reply in a domain LiteCore does not know (e.g. BLIP)."""


def likely_compressible(stub: dict[str, Any]) -> bool:
    """Whether Couchbase Lite asks for this attachment with `compress=true` (C4Blob::isLikelyCompressible)."""
    encoding = stub.get("encoding")
    if isinstance(encoding, str) and any(mark in encoding for mark in _COMPRESSED_MARKS):
        return False
    content_type = stub.get("content_type")
    if not isinstance(content_type, str) or not content_type:
        return False
    content_type = content_type.lower()
    return not (any(mark in content_type for mark in _COMPRESSED_MARKS) or content_type.startswith(_MEDIA_PREFIXES))


class _IncomingRev:
    """A rev waiting for its attachments before it can be stored."""

    __slots__ = ("body", "deleted", "doc_id", "history", "missing", "request", "rev")

    def __init__(self, request: Request, doc_id: str, rev: str, history: str, body: bytes,
                 deleted: bool, missing: list[tuple[str, bool]]) -> None:
        self.request = request
        self.doc_id = doc_id
        self.rev = rev
        self.history = history
        """The `history` property as sent: rev-tree IDs, or the rest of a version vector."""
        self.body = body
        self.deleted = deleted
        self.missing = missing
        """(digest, compressible) still to fetch, in the document's order; fetched one at a time."""


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
                # Already held: LiteCore records it as the gateway's revision of the document
                # (RevFinder: setDocRemoteAncestor), so a reply lost with a push is not pushed again.
                store.mark_pushed(doc_id, rev)
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
            # LiteCore deflates every changes reply that lists changes (RevFinder.cc), whatever its size.
            self.link.blip.send_response(request.number, props, body, compress=True)

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
        missing: list[tuple[str, bool]] = []
        if b'"_attachments"' in body:
            stubs = json.loads(body).get("_attachments") or {}
            # LiteCore walks the document in key order and skips a blob it already holds.
            for name in sorted(stubs):
                stub = stubs[name]
                if isinstance(stub, dict) and stub.get("digest") and \
                        all(stub["digest"] != digest for digest, _ in missing):
                    missing.append((stub["digest"], likely_compressible(stub)))
        incoming = _IncomingRev(request, doc_id, rev, history, body, deleted, missing)
        self._waiting_attachments += 1
        self._fetch_next_blob(incoming)

    def _fetch_next_blob(self, incoming: _IncomingRev) -> None:
        """One blob at a time, as LiteCore's IncomingRev::fetchNextBlob; then the revision is stored."""
        while incoming.missing and incoming.missing[0][0] in self.link.store.blobs:
            incoming.missing.pop(0)
        if not incoming.missing:
            self._waiting_attachments -= 1
            self._store(incoming)
            return
        digest, compressible = incoming.missing[0]
        props = {"Profile": "getAttachment", "digest": digest, "docID": incoming.doc_id}
        if compressible:
            props["compress"] = "true"
        self.link.request(props, on_reply=partial(self._on_attachment, incoming, digest))

    def _on_attachment(self, incoming: _IncomingRev, digest: str, reply: Response | ErrorResponse) -> None:
        if isinstance(reply, ErrorResponse):
            # LiteCore answers the rev with the blob's error and stores nothing: an HTTP status stays
            # one (WebSocket/<status> and back, Worker.cc); anything else is kC4ErrorRemoteError.
            domain, code = ("HTTP", reply.code) if reply.domain == "HTTP" else ("LiteCore", _LITECORE_REMOTE_ERROR)
            self._fail_rev(incoming, domain, code,
                           f"getAttachment {digest}: {reply.domain} {reply.code} {reply.message}")
            return
        arrived = attachment_digest(reply.body)
        if arrived != digest:
            self._fail_rev(incoming, "LiteCore", _LITECORE_CORRUPT_DATA,
                           f"attachment {digest} arrived as {arrived} (digest mismatch)")
            return
        self.link.store.blobs[digest] = reply.body
        self.link.stats.attachments_pulled += 1
        incoming.missing.pop(0)
        self._fetch_next_blob(incoming)

    def _fail_rev(self, incoming: _IncomingRev, domain: str, code: int, message: str) -> None:
        """The revision is not stored; the gateway gets the error as the rev's reply (IncomingRev::failWithError).
        Not a transient error in LiteCore: the checkpoint moves past it, the document waits for its next change."""
        self._waiting_attachments -= 1
        self.link.report(EventKind.ERROR, incoming.doc_id, incoming.rev, f"{domain} {code}: {message}")
        self.tracker.finish(incoming.doc_id, incoming.rev)
        if not incoming.request.no_reply:
            self.link.blip.send_error(incoming.request.number, domain=domain, code=code, message=message)

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
