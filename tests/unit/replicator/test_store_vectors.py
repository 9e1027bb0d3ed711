"""A version-vector database (Couchbase Lite 4.x): local versions, what a changes reply lists, conflicts."""

from __future__ import annotations

import json

import pytest

from rig.replicator import LocalStore
from rig.replicator.clients import Versioning
from rig.replicator.store import InsertOutcome
from rig.replicator.versions import HybridClock, Version, VersionVector

ME, SG, OTHER = "MEMEMEMEMEMEMEMEMEMEME", "SGSGSGSGSGSGSGSGSGSGSG", "OTOTOTOTOTOTOTOTOTOTOT"


def vector_store(wall: int = 0x2000_0000) -> LocalStore:
    return LocalStore(Versioning.VERSION_VECTORS, source_id=ME, clock=HybridClock(lambda: wall))


def test_local_edits_are_versions_of_this_database() -> None:
    store = vector_store()
    first = store.put("a", {"n": 1})
    second = store.put("a", {"n": 2})
    assert first.rev == f"20000000@{ME}"
    assert second.rev == f"20000001@{ME}"  # same wall clock: the counter moves on
    assert second.vector == VersionVector(Version(0x20000001, ME))
    assert second.history == ()
    assert [d.doc_id for d in store.pending()] == ["a"]
    store.mark_pushed("a", second.rev)
    assert store.pending() == []


def test_an_edit_of_a_pulled_document_keeps_the_other_source_as_history() -> None:
    store = vector_store()
    pulled = VersionVector(Version(0x1000_0000, SG))
    store.insert_remote_vector("a", pulled, b'{"n":0}', False)
    edited = store.put("a", {"n": 1})
    assert edited.vector is not None
    assert edited.vector.text == f"{edited.rev};10000000@{SG}"
    assert edited.remote_rev == str(pulled.current)
    assert store.known_revs("a") == [edited.rev, str(pulled.current)]
    assert store.has_revision("a", str(pulled.current))
    assert store.has_revision("a", f"fffffff@{SG}")
    assert not store.has_revision("a", f"10000001@{SG}")
    assert not store.has_revision("b", f"1@{SG}")


def test_pulled_versions_replace_older_ones_and_older_ones_are_ignored() -> None:
    store = vector_store()
    v1 = VersionVector(Version(0x100, SG))
    v2 = v1.with_new_version(Version(0x200, OTHER))
    assert store.insert_remote_vector("a", v2, b'{"v":2}', False) is InsertOutcome.INSERTED
    assert store.insert_remote_vector("a", v1, b'{"v":1}', False) is InsertOutcome.ALREADY_KNOWN
    assert store.insert_remote_vector("a", v2, b'{"v":2}', False) is InsertOutcome.ALREADY_KNOWN
    v3 = v2.with_new_version(Version(0x300, SG))
    assert store.insert_remote_vector("a", v3, b'{"v":3}', True) is InsertOutcome.INSERTED
    doc = store.get("a")
    assert doc is not None and doc.deleted and doc.rev == str(v3.current) and not doc.pending


def _conflict(local_wall: int, remote_value: int, *, local_deleted: bool = False,
              remote_deleted: bool = False) -> tuple[LocalStore, VersionVector, VersionVector, InsertOutcome]:
    store = vector_store(local_wall)
    base = VersionVector(Version(0x100, SG))
    store.insert_remote_vector("a", base, b'{"v":"base"}', False)
    mine = store.delete("a") if local_deleted else store.put("a", {"v": "mine"})
    assert mine.vector is not None
    theirs = base.with_new_version(Version(remote_value, OTHER))
    outcome = store.insert_remote_vector("a", theirs, b"{}" if remote_deleted else b'{"v":"theirs"}', remote_deleted)
    return store, mine.vector, theirs, outcome


def test_a_newer_remote_edit_wins_and_the_vectors_merge_trivially() -> None:
    store, mine, theirs, outcome = _conflict(0x1000_0000, 0x2000_0000)
    assert outcome is InsertOutcome.CONFLICT_REMOTE_WON
    doc = store.get("a")
    assert doc is not None and doc.vector is not None
    assert json.loads(doc.body) == {"v": "theirs"}
    assert doc.vector.current == theirs.current and not doc.vector.merges
    assert doc.vector.dominates(mine.current)  # our losing version stays in the history
    assert not doc.pending


def test_a_newer_local_edit_wins_under_a_new_version_merging_both() -> None:
    store, mine, theirs, outcome = _conflict(0x3000_0000, 0x2000_0000)
    assert outcome is InsertOutcome.CONFLICT_LOCAL_WON
    doc = store.get("a")
    assert doc is not None and doc.vector is not None
    assert json.loads(doc.body) == {"v": "mine"}
    assert doc.vector.current.source == ME and doc.vector.current.value > mine.current.value
    assert doc.vector.merges == (mine.current, theirs.current)
    assert doc.vector.previous == (Version(0x100, SG),)
    assert doc.pending and doc.remote_rev == str(theirs.current)


@pytest.mark.parametrize(("local_deleted", "remote_deleted", "outcome"), [
    (True, False, InsertOutcome.CONFLICT_LOCAL_WON),
    (False, True, InsertOutcome.CONFLICT_REMOTE_WON),
])
def test_a_deletion_wins_whatever_the_timestamps(local_deleted: bool, remote_deleted: bool,
                                                  outcome: InsertOutcome) -> None:
    wall = 0x1000_0000 if local_deleted else 0x3000_0000  # the deletion is the older edit
    store, _, _, got = _conflict(wall, 0x2000_0000, local_deleted=local_deleted, remote_deleted=remote_deleted)
    assert got is outcome
    doc = store.get("a")
    assert doc is not None and doc.deleted


def test_a_push_of_an_older_version_of_ours_moves_the_remote_version_but_keeps_the_newer_pending() -> None:
    store = vector_store()
    first = store.put("a", {"n": 1})
    second = store.put("a", {"n": 2})
    store.mark_pushed("a", first.rev)
    doc = store.get("a")
    assert doc is not None and doc.remote_rev == first.rev and doc.pending
    store.mark_pushed("a", second.rev)
    assert not doc.pending
