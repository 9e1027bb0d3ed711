"""A device's local database: documents with revision history, blobs, pending pushes, checkpoints.

In memory, compact (bodies kept as the JSON bytes they arrived in), so a
sleeping device costs little. A rev-tree database (Couchbase Lite 3.x) keeps each document's
revision ID and ancestors; a version-vector database (4.x) keeps its vector (HLV) and uses the
current version as the revision ID.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rig.replicator.clients import Versioning
from rig.replicator.revisions import attachment_digest, generation, local_wins, new_rev_id
from rig.replicator.versions import (
    HybridClock,
    Order,
    Version,
    VersionVector,
    is_rev_tree_id,
    merge,
    new_local_version,
    new_source_id,
    trivial_merge,
)
from rig.replicator.versions import local_wins as vector_local_wins

MAX_HISTORY = 50
DEFAULT_COLLECTION = "_default"


def normalize_collection(keyspace: str) -> str:
    """A collection as LiteCore names it in `getCollections`: `_default` for the default one, else `scope.name`."""
    scope, dot, name = keyspace.partition(".")
    if keyspace in (DEFAULT_COLLECTION, "_default._default"):
        return DEFAULT_COLLECTION
    if not dot or not scope or not name or "." in name:
        raise ValueError(f"collection {keyspace!r}: expected SCOPE.NAME (or _default)")
    return keyspace


class Document:
    """The current revision of one document, and what the server is known to have."""

    __slots__ = ("_remote_rev", "_stalled_rev", "_watch", "body", "deleted", "doc_id", "history", "local_seq",
                 "rev", "vector")

    def __init__(self, doc_id: str, rev: str, history: tuple[str, ...], body: bytes, deleted: bool,
                 remote_rev: str | None, local_seq: int, vector: VersionVector | None = None) -> None:
        self.doc_id = doc_id
        self.rev = rev
        self.history = history
        """Ancestors of `rev`, newest first."""
        self.body = body
        self.deleted = deleted
        self._remote_rev = remote_rev
        self.local_seq = local_seq
        """Local sequence of the last local change; pending while rev != remote_rev."""
        self._stalled_rev: str | None = None
        self.vector = vector
        """Version-vector databases: the document's HLV (`rev` is its current version)."""
        self._watch: set[str] | None = None
        """The owning store's set of documents that may be pending (see LocalStore.pending)."""

    @property
    def remote_rev(self) -> str | None:
        """The newest revision of this document the server is known to hold."""
        return self._remote_rev

    @remote_rev.setter
    def remote_rev(self, rev: str | None) -> None:
        # The push code and tests change this in place: the store's pending index must hear of it.
        self._remote_rev = rev
        if self._watch is not None:
            self._watch.add(self.doc_id)

    @property
    def stalled_rev(self) -> str | None:
        """A revision the server refused (409 conflict or 403 rejection): not pushed again.
        A new local edit or a pull that resolves the conflict makes a new revision."""
        return self._stalled_rev

    @stalled_rev.setter
    def stalled_rev(self, rev: str | None) -> None:
        self._stalled_rev = rev
        if self._watch is not None:
            self._watch.add(self.doc_id)

    @property
    def pending(self) -> bool:
        return self.rev != self._remote_rev

    def properties(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.body) if self.body else {}
        return result

    def attachment_stubs(self) -> dict[str, dict[str, Any]]:
        if b'"_attachments"' not in self.body:
            return {}
        stubs: dict[str, dict[str, Any]] = self.properties().get("_attachments") or {}
        return stubs


def _by_local_seq(doc: Document) -> int:
    return doc.local_seq


class _WatchedDocs(dict[str, Document]):
    """The store's documents, remembering which ones may be pending (a document stored, or one whose
    `remote_rev`/`stalled_rev` changed in place)."""

    def __init__(self) -> None:
        super().__init__()
        self.maybe_pending: set[str] = set()

    def __setitem__(self, doc_id: str, doc: Document) -> None:
        doc._watch = self.maybe_pending
        self.maybe_pending.add(doc_id)
        super().__setitem__(doc_id, doc)

    def update(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - not used by the store
        for doc_id, doc in dict(*args, **kwargs).items():
            self[doc_id] = doc

    def setdefault(self, doc_id: str, default: Document | None = None) -> Document:  # pragma: no cover
        raise NotImplementedError("assign LocalStore.docs[doc_id] instead")


class InsertOutcome(Enum):
    INSERTED = "inserted"
    ALREADY_KNOWN = "already_known"
    CONFLICT_REMOTE_WON = "conflict_remote_won"
    CONFLICT_LOCAL_WON = "conflict_local_won"


@dataclass(frozen=True, slots=True)
class Attachment:
    data: bytes
    content_type: str = "application/octet-stream"


class LocalStore:
    """One device's database: rev trees by default, or version vectors with a source ID and an HLC clock."""

    def __init__(self, versioning: Versioning = Versioning.REV_TREES, *, source_id: str | None = None,
                 clock: HybridClock | None = None) -> None:
        self.versioning = versioning
        self.source_id = source_id or new_source_id(os.urandom(16))
        """This database's ID in version vectors (Couchbase Lite: 16 random bytes, base64)."""
        self.clock = clock or HybridClock()
        self.docs: dict[str, Document] = _WatchedDocs()
        self.blobs: dict[str, bytes] = {}
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self._seq = 0
        self.named: dict[str, LocalStore] = {}
        """Named collections (`scope.name`) of this database; this store is its default collection."""
        self.awaiting_reply: dict[str, str] = {}
        """Revisions sent to the gateway whose reply has not come (doc ID → revision). Kept across
        connections: an entry left when a connection dies is a reply the fault took."""
        self.pushed_reply_lost = 0
        """Revisions whose reply was lost but which the gateway later answered it has (304 to a
        proposal of the same revision): the gateway counted them as pushed, the device could not."""

    def pushed_replies_lost(self) -> int:
        """`pushed_reply_lost` of this database: its default collection and its named ones."""
        return self.pushed_reply_lost + sum(store.pushed_reply_lost for store in self.named.values())

    def pushed_awaiting_reply(self) -> int:
        """How many revisions of this database (all collections) were sent and have no reply yet."""
        return len(self.awaiting_reply) + sum(len(store.awaiting_reply) for store in self.named.values())

    @property
    def uses_version_vectors(self) -> bool:
        return self.versioning is Versioning.VERSION_VECTORS

    def collection(self, keyspace: str) -> LocalStore:
        """The collection `scope.name` of this database (made when first asked for); `_default` is this store.

        As in Couchbase Lite, each collection has its own documents, sequences and checkpoints, and
        shares the database's blobs, source ID and clock."""
        keyspace = normalize_collection(keyspace)
        if keyspace == DEFAULT_COLLECTION:
            return self
        store = self.named.get(keyspace)
        if store is None:
            store = LocalStore(self.versioning, source_id=self.source_id, clock=self.clock)
            store.blobs = self.blobs
            self.named[keyspace] = store
        return store

    def __len__(self) -> int:
        return sum(1 for doc in self.docs.values() if not doc.deleted)

    def get(self, doc_id: str) -> Document | None:
        return self.docs.get(doc_id)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @property
    def last_sequence(self) -> int:
        return self._seq

    # Local edits ----------------------------------------------------------------------------
    def put(self, doc_id: str, properties: Mapping[str, Any],
            attachments: Mapping[str, Attachment] | None = None) -> Document:
        """Save a local revision (queued for push); attachments become stubs plus blobs."""
        body = {k: v for k, v in properties.items() if not k.startswith("_")}
        current = self.docs.get(doc_id)
        if attachments:
            stubs: dict[str, dict[str, Any]] = {}
            gen = generation(current.rev) + 1 if current else 1
            for name, att in attachments.items():
                digest = attachment_digest(att.data)
                self.blobs[digest] = att.data
                stubs[name] = {"stub": True, "digest": digest, "length": len(att.data),
                               "revpos": gen, "content_type": att.content_type}
                if self.uses_version_vectors:
                    del stubs[name]["revpos"]  # no generations: LiteCore 4.x sends none
            body["_attachments"] = stubs
        elif current is not None and not current.deleted and "_attachments" in current.properties():
            body["_attachments"] = current.properties()["_attachments"]
        return self._save_local(doc_id, json.dumps(body, separators=(",", ":")).encode(), deleted=False)

    def delete(self, doc_id: str) -> Document:
        if doc_id not in self.docs or self.docs[doc_id].deleted:
            raise KeyError(f"no live document {doc_id!r} to delete")
        return self._save_local(doc_id, b"{}", deleted=True)

    def _save_local(self, doc_id: str, body: bytes, *, deleted: bool) -> Document:
        current = self.docs.get(doc_id)
        if self.uses_version_vectors:
            vector = new_local_version(current.vector if current else None, self.clock, self.source_id)
            doc = Document(doc_id, str(vector.current), (), body, deleted, current.remote_rev if current else None,
                           self._next_seq(), vector)
            self.docs[doc_id] = doc
            return doc
        parent = current.rev if current else None
        rev = new_rev_id(parent, body, deleted=deleted)
        history = ((parent, *current.history)[:MAX_HISTORY] if current and parent else ())
        doc = Document(doc_id, rev, history, body, deleted,
                       current.remote_rev if current else None, self._next_seq())
        self.docs[doc_id] = doc
        return doc

    # Replication -----------------------------------------------------------------------------
    def pending(self) -> list[Document]:
        """Documents to push: the server lacks their current revision and has not refused it.

        Looked at on every proposal and checkpoint, so not a scan of every document: the store keeps
        the IDs of documents that may be pending (every document stored or changed since the last
        look) and drops those found not pending. A document leaves the set only while neither
        pending nor pushable, and every way back (a new revision stored, `remote_rev` or
        `stalled_rev` changed) puts it back."""
        docs = self.docs
        assert isinstance(docs, _WatchedDocs), "LocalStore.docs must stay the store's own mapping"
        maybe = docs.maybe_pending
        out = []
        for doc_id in list(maybe):
            doc = docs.get(doc_id)
            if doc is not None and doc.rev != doc._remote_rev and doc._stalled_rev != doc.rev:
                out.append(doc)
            else:
                maybe.discard(doc_id)
        out.sort(key=_by_local_seq)
        return out

    def known_revs(self, doc_id: str, limit: int = 10) -> list[str]:
        """What a `changes` reply lists for a wanted revision: rev trees, the current revision and its
        ancestors; version vectors, the current versions of the local and the last remote revision
        (LiteCore `VectorDocumentFactory::findAncestors`; Sync Gateway takes at most two). Rev trees list
        at most 10 (RevFinder `kMaxPossibleAncestors`)."""
        doc = self.docs.get(doc_id)
        if doc is None:
            return []
        if doc.vector is not None:
            return [doc.rev] if doc.remote_rev in (None, doc.rev) else [doc.rev, doc.remote_rev]
        return [doc.rev, *doc.history[: limit - 1]]

    def has_revision(self, doc_id: str, rev: str) -> bool:
        """Rev trees: `rev` is current or an ancestor. Vectors: the vector already contains the version."""
        doc = self.docs.get(doc_id)
        if doc is None:
            return False
        if doc.vector is not None and not is_rev_tree_id(rev):
            return doc.vector.dominates(Version.parse(rev))
        return doc.rev == rev or rev in doc.history

    def mark_pushed(self, doc_id: str, rev: str) -> None:
        doc = self.docs.get(doc_id)
        if doc is None:
            return
        if doc.vector is not None:
            if doc.rev == rev:
                doc.remote_rev = rev
                doc.stalled_rev = None
            elif doc.vector.dominates(Version.parse(rev)) and (
                    doc.remote_rev is None or Version.parse(rev).value > Version.parse(doc.remote_rev).value):
                doc.remote_rev = rev  # an older version of ours arrived: the newer one is still to push
            return
        if doc.rev == rev or rev in doc.history:
            if doc.remote_rev is None or doc.remote_rev in (rev, *self._ancestors_of(doc, rev)):
                doc.remote_rev = rev
            if doc.rev == rev:
                doc.stalled_rev = None

    @staticmethod
    def _ancestors_of(doc: Document, rev: str) -> tuple[str, ...]:
        if rev == doc.rev:
            return doc.history
        if rev in doc.history:
            return doc.history[doc.history.index(rev) + 1:]
        return ()

    def insert_remote(self, doc_id: str, rev: str, history: tuple[str, ...], body: bytes,
                      deleted: bool) -> InsertOutcome:
        """Store a pulled revision, resolving a conflict with unpushed local changes
        as Couchbase Lite's default resolver does."""
        current = self.docs.get(doc_id)
        if current is not None and (current.rev == rev or rev in current.history):
            if current.rev == rev:
                current.remote_rev = rev
            return InsertOutcome.ALREADY_KNOWN
        if current is None or current.rev in history or not current.pending:
            seq = current.local_seq if current else 0
            self.docs[doc_id] = Document(doc_id, rev, history[:MAX_HISTORY], body, deleted, rev, seq)
            return InsertOutcome.INSERTED
        if not local_wins(current.rev, current.deleted, rev, deleted):
            self.docs[doc_id] = Document(doc_id, rev, history[:MAX_HISTORY], body, deleted, rev,
                                         current.local_seq)
            return InsertOutcome.CONFLICT_REMOTE_WON
        # The local revision wins: keep its content as a new child of the server's revision,
        # so the push that follows extends the server's branch instead of conflicting again.
        new_body = current.body
        new_rev = new_rev_id(rev, new_body, deleted=current.deleted)
        self.docs[doc_id] = Document(doc_id, new_rev, (rev, *history)[:MAX_HISTORY], new_body,
                                     current.deleted, rev, self._next_seq())
        return InsertOutcome.CONFLICT_LOCAL_WON

    def insert_remote_vector(self, doc_id: str, vector: VersionVector, body: bytes, deleted: bool) -> InsertOutcome:
        """Store a pulled revision of a version-vector database. A conflict (neither vector contains the
        other's current version) is resolved as Couchbase Lite 4.x's default resolver does: the remote
        winner is kept with both vectors trivially merged; a local winner keeps its body under a new
        version that merges both vectors (LiteCore `VectorDocument::resolveConflict`), to push next."""
        current = self.docs.get(doc_id)
        rev = str(vector.current)
        if current is None or current.vector is None:
            seq = current.local_seq if current else 0
            self.docs[doc_id] = Document(doc_id, rev, (), body, deleted, rev, seq, vector)
            return InsertOutcome.INSERTED
        order = current.vector.compare(vector)
        if order in (Order.SAME, Order.NEWER):
            if order is Order.SAME or current.remote_rev is None:
                current.remote_rev = rev  # the server holds this version (ours is newer, or the same)
            return InsertOutcome.ALREADY_KNOWN
        if order is Order.OLDER:
            self.docs[doc_id] = Document(doc_id, rev, (), body, deleted, rev, current.local_seq, vector)
            return InsertOutcome.INSERTED
        if not vector_local_wins(current.vector, current.deleted, vector, deleted):
            resolved = trivial_merge(vector, current.vector)
            self.docs[doc_id] = Document(doc_id, rev, (), body, deleted, rev, current.local_seq, resolved)
            return InsertOutcome.CONFLICT_REMOTE_WON
        resolved = merge(vector, current.vector, self.clock, self.source_id)
        self.docs[doc_id] = Document(doc_id, str(resolved.current), (), current.body, current.deleted, rev,
                                     self._next_seq(), resolved)
        return InsertOutcome.CONFLICT_LOCAL_WON

    def purge(self, doc_id: str) -> bool:
        return self.docs.pop(doc_id, None) is not None

    def attachment(self, doc_id: str, name: str) -> bytes | None:
        doc = self.docs.get(doc_id)
        if doc is None:
            return None
        stub = doc.attachment_stubs().get(name)
        return self.blobs.get(stub["digest"]) if stub else None
