"""The device's local store: revisions, pending pushes, conflicts resolved as Couchbase Lite does."""

from __future__ import annotations

import json

import pytest

from rig.replicator import Attachment, LocalStore
from rig.replicator.revisions import attachment_digest, attachment_proof, generation, local_wins, new_rev_id
from rig.replicator.store import InsertOutcome


def test_local_edits_make_a_revision_chain_and_queue_for_push() -> None:
    store = LocalStore()
    first = store.put("a", {"n": 1})
    second = store.put("a", {"n": 2})
    assert generation(first.rev) == 1
    assert generation(second.rev) == 2
    assert second.history == (first.rev,)
    assert [d.doc_id for d in store.pending()] == ["a"]
    store.mark_pushed("a", second.rev)
    assert store.pending() == []
    assert store.get("a") is not None
    assert store.get("a").remote_rev == second.rev


def test_underscore_properties_are_not_stored_as_body() -> None:
    store = LocalStore()
    doc = store.put("a", {"_id": "x", "_rev": "1-a", "title": "t"})
    assert json.loads(doc.body) == {"title": "t"}


def test_rev_ids_depend_on_parent_body_and_deletion() -> None:
    assert new_rev_id(None, b"{}") != new_rev_id(None, b'{"a":1}')
    assert new_rev_id("1-a", b"{}") != new_rev_id("1-b", b"{}")
    assert new_rev_id("1-a", b"{}", deleted=True) != new_rev_id("1-a", b"{}")
    assert new_rev_id("41-a", b"{}").startswith("42-")


def test_attachments_become_stubs_and_blobs() -> None:
    store = LocalStore()
    photo = b"\x89PNG fake photo bytes" * 10
    doc = store.put("profile", {"name": "Ann"}, {"photo": Attachment(photo, "image/png")})
    stub = doc.attachment_stubs()["photo"]
    assert stub == {"stub": True, "digest": attachment_digest(photo), "length": len(photo), "revpos": 1,
                    "content_type": "image/png"}
    assert store.attachment("profile", "photo") == photo
    updated = store.put("profile", {"name": "Ann B."})
    assert updated.attachment_stubs()["photo"]["digest"] == stub["digest"]


def test_digest_and_proof_formats() -> None:
    assert attachment_digest(b"hello") == "sha1-qvTGHdzF6KLavt4PO0gs2a6pQ00="
    assert attachment_proof(b"\x01\x02", b"hello").startswith("sha1-")
    assert attachment_proof(b"\x01\x02", b"hello") != attachment_proof(b"\x01\x03", b"hello")


def test_delete_makes_a_tombstone_revision() -> None:
    store = LocalStore()
    store.put("a", {"n": 1})
    tomb = store.delete("a")
    assert tomb.deleted
    assert tomb.body == b"{}"
    assert len(store) == 0
    with pytest.raises(KeyError):
        store.delete("a")


def test_pull_inserts_fast_forwards_and_ignores_known() -> None:
    store = LocalStore()
    assert store.insert_remote("a", "1-x", (), b'{"v":1}', False) is InsertOutcome.INSERTED
    assert store.insert_remote("a", "2-y", ("1-x",), b'{"v":2}', False) is InsertOutcome.INSERTED
    assert store.insert_remote("a", "1-x", (), b'{"v":1}', False) is InsertOutcome.ALREADY_KNOWN
    doc = store.get("a")
    assert doc is not None
    assert doc.rev == "2-y"
    assert not doc.pending
    assert store.known_revs("a") == ["2-y", "1-x"]


@pytest.mark.parametrize(
    ("local_deleted", "remote_gen", "remote_deleted", "expected"),
    [
        (False, 3, False, InsertOutcome.CONFLICT_REMOTE_WON),  # longer history wins
        (True, 3, False, InsertOutcome.CONFLICT_LOCAL_WON),  # a deletion always wins
        (False, 2, True, InsertOutcome.CONFLICT_REMOTE_WON),  # ... on either side
    ],
)
def test_conflicts_resolve_like_couchbase_lite(
    local_deleted: bool, remote_gen: int, remote_deleted: bool, expected: InsertOutcome
) -> None:
    store = LocalStore()
    store.insert_remote("a", "1-base", (), b'{"v":0}', False)
    if local_deleted:
        store.delete("a")
    else:
        store.put("a", {"v": "local"})
    remote_history = (*tuple(f"{g}-r" for g in range(remote_gen - 1, 1, -1)), "1-base")
    outcome = store.insert_remote("a", f"{remote_gen}-r", remote_history, b'{"v":"remote"}', remote_deleted)
    assert outcome is expected
    doc = store.get("a")
    assert doc is not None
    if expected is InsertOutcome.CONFLICT_LOCAL_WON:
        # The winner is re-parented on the server's revision, ready to push without conflict.
        assert doc.history[0] == f"{remote_gen}-r"
        assert doc.pending
        assert doc.remote_rev == f"{remote_gen}-r"
        assert doc.deleted is local_deleted
    else:
        assert doc.rev == f"{remote_gen}-r"
        assert not doc.pending


def test_equal_generations_pick_the_higher_rev_id_deterministically() -> None:
    assert local_wins("2-b", False, "2-a", False)
    assert not local_wins("2-a", False, "2-b", False)


def test_purge_and_stalled_revisions_are_not_pushed() -> None:
    store = LocalStore()
    doc = store.put("a", {"v": 1})
    doc.stalled_rev = doc.rev
    assert store.pending() == []
    store.put("a", {"v": 2})
    assert [d.doc_id for d in store.pending()] == ["a"]
    assert store.purge("a")
    assert store.get("a") is None
    assert not store.purge("a")


def test_pending_looks_only_at_documents_that_may_be_pending() -> None:
    # pending() runs on every proposal: it must not scan every document, and must still see every
    # way a document becomes pushable again (an edit, a pull, remote_rev or stalled_rev changed in place).
    store = LocalStore()
    for i in range(1000):
        doc = store.put(f"d{i}", {"i": i})
        store.mark_pushed(doc.doc_id, doc.rev)
    assert store.pending() == []
    assert store.docs.maybe_pending == set()  # type: ignore[attr-defined]
    edited = store.put("d7", {"i": 70})
    assert store.pending() == [edited]
    store.mark_pushed("d7", edited.rev)
    assert store.pending() == []
    pushed = store.get("d7")
    assert pushed is not None
    pushed.remote_rev = pushed.history[0]  # the reply to its push never arrived
    assert store.pending() == [pushed]
    pushed.stalled_rev = pushed.rev
    assert store.pending() == []
    pushed.stalled_rev = None
    assert store.pending() == [pushed]
    assert store.insert_remote("d9", "2-zz", (store.get("d9").rev,), b"{}", False) is InsertOutcome.INSERTED  # type: ignore[union-attr]
    assert store.pending() == [pushed]  # a pulled revision is held by the server: not pending
    ordered = [store.put(f"d{i}", {"i": -i}) for i in (500, 3)]
    assert [d.doc_id for d in store.pending()] == ["d7", "d500", "d3"]  # local sequence order
    assert ordered[0].local_seq < ordered[1].local_seq
