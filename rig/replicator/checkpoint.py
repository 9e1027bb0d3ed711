"""Checkpoint IDs and the pull position that may be saved (Couchbase Lite's rule)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import deque
from typing import Any


def checkpoint_id(device_uuid: str, remote_url: str, channels: tuple[str, ...] = ()) -> str:
    """A stable ID per (device, remote database, channel filter), shaped like Couchbase Lite's."""
    key = json.dumps([device_uuid, remote_url, sorted(channels)], separators=(",", ":"))
    return "cp-" + base64.b64encode(hashlib.sha1(key.encode(), usedforsecurity=False).digest()).decode()


def collection_checkpoint_id(base_id: str, collection: str, *, push: bool, pull: bool) -> str:
    """The checkpoint ID of a named collection: as LiteCore (`Checkpointer::docIDForUUID`), the default
    collection keeps the ID it always had, a named one hashes in its name and the push/pull modes with SHA-256."""
    if collection == "_default":
        return base_id
    key = json.dumps([base_id, collection, pull, push], separators=(",", ":"))
    return "cp-" + base64.b64encode(hashlib.sha256(key.encode()).digest()).decode()


class _Row:
    __slots__ = ("done", "seq")

    def __init__(self, seq: Any, done: bool) -> None:
        self.seq = seq
        self.done = done


class SequenceTracker:
    """Changes rows in feed order; the checkpoint is the last sequence before the first unfinished row.

    Sequences are opaque JSON values (numbers or compound strings) and are
    saved exactly as the gateway sent them.
    """

    def __init__(self, since: Any = 0) -> None:
        self.checkpoint: Any = since
        self._rows: deque[_Row] = deque()
        self._waiting: dict[tuple[str, str], _Row] = {}

    @property
    def outstanding(self) -> int:
        return len(self._waiting)

    def add(self, seq: Any, doc_id: str, rev: str, *, requested: bool) -> None:
        row = _Row(seq, not requested)
        self._rows.append(row)
        if requested:
            self._waiting[(doc_id, rev)] = row
        else:
            self._advance()

    def finish(self, doc_id: str, rev: str) -> bool:
        """Mark a requested revision as stored (or answered by norev); False if it was not awaited."""
        row = self._waiting.pop((doc_id, rev), None)
        if row is None:
            return False
        row.done = True
        self._advance()
        return True

    def _advance(self) -> None:
        rows = self._rows
        while rows and rows[0].done:
            self.checkpoint = rows.popleft().seq
