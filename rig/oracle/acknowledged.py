"""Did every write the gateway acknowledged survive, exactly once? (Pure: revision trees in, findings out.)

A device counts a write as acknowledged when the gateway answered its `rev` message
with success. After a run, and above all after a gateway crash, each such revision
must still be in its document's revision tree (the current revision or an ancestor of
it): otherwise the write was **lost**. A write replayed after a fault must not fork
its document: with conflicts disallowed (Sync Gateway's default), a document with more
than one live leaf revision holds a **duplicated** write. Whether every device that may
read a document holds its current revision is the per-device check's job
(`rig.device.fleet.verify_devices`); together they say every acknowledged write
reached every device allowed to read it.

A Couchbase Lite 4.1 device names its revisions by version (`<hex>@<source>`), which is never in
a rev tree: its write counts as present when the document's version vector (Sync Gateway's `_vv`:
current, merge and previous versions) holds a version of that source at least as new.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_NOT_SEEN = -1


@dataclass(frozen=True, slots=True)
class AckedWrite:
    device: str
    doc_id: str
    rev: str


@dataclass(frozen=True, slots=True)
class RevTree:
    """A document's revision tree as Sync Gateway keeps it in `_sync.history`."""

    revs: tuple[str, ...]
    parents: tuple[int, ...]
    deleted: frozenset[int] = frozenset()
    vector: Mapping[str, int] = field(default_factory=dict)
    """Source ID -> the newest version value of that source in the document's version vector."""

    @classmethod
    def from_sync(cls, sync: Mapping[str, Any], vector: Mapping[str, int] | None = None) -> RevTree:
        history = sync.get("history") or {}
        revs = tuple(history.get("revs") or ())
        parents = tuple(history.get("parents") or (-1,) * len(revs))
        return cls(revs, parents, frozenset(history.get("deleted") or ()), dict(vector or {}))

    def holds(self, rev: str) -> bool:
        """A rev-tree ID is in the tree; a version `<hex>@<source>` is dominated by the document's vector."""
        value, at, source = rev.partition("@")
        if not at:
            return rev in self.revs
        try:
            number = int(value, 16)
        except ValueError:
            return False
        return self.vector.get(source, _NOT_SEEN) >= number

    def leaves(self) -> list[int]:
        referenced = {p for p in self.parents if p >= 0}
        return [i for i in range(len(self.revs)) if i not in referenced]

    def live_leaves(self) -> list[str]:
        return [self.revs[i] for i in self.leaves() if i not in self.deleted]


@dataclass(slots=True)
class DurabilityReport:
    checked: int = 0
    """Distinct acknowledged revisions looked for."""
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    acknowledged_twice: int = 0
    """The same revision acknowledged more than once (a resend after a lost reply; harmless)."""

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "lost": len(self.lost), "duplicated": len(self.duplicated),
                "acknowledged_twice": self.acknowledged_twice,
                "lost_examples": self.lost[:50], "duplicated_examples": self.duplicated[:50]}


def check_acknowledged(acked: Iterable[AckedWrite], trees: Mapping[str, RevTree | None]) -> DurabilityReport:
    """`trees[doc_id]` is the gateway's tree for that document, None when the gateway has no such document."""
    report = DurabilityReport()
    seen: dict[tuple[str, str], str] = {}
    for write in acked:
        key = (write.doc_id, write.rev)
        if key in seen:
            report.acknowledged_twice += 1
            continue
        seen[key] = write.device
    report.checked = len(seen)
    for (doc_id, rev), device in sorted(seen.items()):
        tree = trees.get(doc_id)
        if tree is None or not tree.holds(rev):
            report.lost.append(f"lost: {doc_id} {rev} acknowledged to {device}")
    for doc_id in sorted({doc_id for doc_id, _ in seen}):
        tree = trees.get(doc_id)
        if tree is not None and len(live := tree.live_leaves()) > 1:
            report.duplicated.append(f"duplicated: {doc_id} has {len(live)} live branches {sorted(live)}")
    return report
