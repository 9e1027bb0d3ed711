"""Several collections in one replication, without sockets: a scripted peer plays the gateway.

What LiteCore (3.1+ `Replicator::getCollections`, `Checkpointer::docIDForUUID`) does with several
collections: one `getCollections` naming all of them with a checkpoint ID each, then per collection
one `subChanges`, its own checkpoint and `collection=<index>` on every message; documents are kept
per collection in the local database.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from rig.blip import BlipConnection, Request
from rig.replicator import EventKind, LocalStore, ReplicationEvent, ReplicatorConfig
from rig.replicator.checkpoint import collection_checkpoint_id
from rig.replicator.clients import RELEASES
from rig.replicator.collection_group import CollectionsReplicator
from rig.replicator.replicator import Replicator, ReplicatorState
from rig.replicator.store import normalize_collection
from tests.unit.replicator.scripted import ScriptedPeer, run, store_for

TWO = ("shop.orders", "shop.notes")


def group_for(release: str, store: LocalStore, collections: tuple[str, ...] = TWO,
              **config: Any) -> tuple[CollectionsReplicator, BlipConnection, list[ReplicationEvent]]:
    ours, events = BlipConnection(), []
    group = CollectionsReplicator(ours, store, ReplicatorConfig(
        "cp-test", release=RELEASES[release], database_uuid="u-1", collections=collections, **config),
        clock=lambda: 0.0, wall_clock=lambda: 1.0, observer=events.append)
    return group, ours, events


def gateway_answers(saved: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def set_checkpoint(request: Request) -> tuple[dict[str, str], bytes]:
        saved[request.properties["collection"]] = json.loads(request.body)
        return {"rev": "0-1"}, b""

    return {"getCollections": lambda r: (None, b"[{},{}]"), "subChanges": lambda r: (None, b""),
            "proposeChanges": lambda r: (None, b"[]"), "rev": lambda r: (None, b""),
            "setCheckpoint": set_checkpoint}


@pytest.mark.parametrize("release", ["3.3", "3.4", "4.1"])
def test_one_get_collections_names_every_collection_with_a_checkpoint_id_each(release: str) -> None:
    group, ours, _ = group_for(release, store_for(release))
    peer = ScriptedPeer({"getCollections": lambda r: None})
    run(group, peer, ours)
    assert peer.profiles() == ["getCollections"]  # nothing before its reply, 3.3 included
    request = peer.received[0]
    assert "collection" not in request.properties and request.properties["uuid"] == "u-1"
    body = json.loads(request.body)
    assert body["collections"] == list(TWO)
    ids = body["checkpoint_ids"]
    assert ids == [collection_checkpoint_id("cp-test", c, push=True, pull=True) for c in TWO]
    assert len(set(ids)) == 2 and "cp-test" not in ids  # named collections: an ID of their own
    assert group.state is ReplicatorState.STARTING


def test_the_default_collection_keeps_its_checkpoint_id_beside_named_ones() -> None:
    assert collection_checkpoint_id("cp-x", "_default", push=True, pull=True) == "cp-x"
    assert collection_checkpoint_id("cp-x", "a.b", push=True, pull=False) != \
        collection_checkpoint_id("cp-x", "a.b", push=True, pull=True)  # CBL-501: modes are hashed in
    assert normalize_collection("_default._default") == "_default"
    with pytest.raises(ValueError, match="SCOPE"):
        normalize_collection("orders")


@pytest.mark.parametrize("release", ["3.3", "4.1"])
def test_each_collection_subscribes_pushes_and_checkpoints_with_its_index(release: str) -> None:
    store = store_for(release)
    orders, notes = store.collection("shop.orders"), store.collection("shop.notes")
    orders.put("o1", {"n": 1})
    notes.put("n1", {"n": 2})
    store.put("d1", {"n": 3})  # the default collection is not replicated here
    saved: dict[str, dict[str, Any]] = {}
    peer = ScriptedPeer(gateway_answers(saved))
    group, ours, _ = group_for(release, store)
    run(group, peer, ours)
    later = peer.received[1:]
    assert all(r.properties.get("collection") in ("0", "1") for r in later)
    subscribes = [r for r in later if r.profile == "subChanges"]
    assert sorted(r.properties["collection"] for r in subscribes) == ["0", "1"]
    revs = {r.properties["id"]: r.properties["collection"] for r in later if r.profile == "rev"}
    assert revs == {"o1": "0", "n1": "1"}
    assert group.state is ReplicatorState.RUNNING  # no caught-up marker yet
    run(group, peer, ours, send=[({"Profile": "changes", "collection": "0"}, b"null"),
                                 ({"Profile": "changes", "collection": "1"}, b"null")])
    assert group.state is ReplicatorState.DONE
    assert set(saved) == {"0", "1"}
    assert group.stats.docs_pushed == 2
    assert store.pending()[0].doc_id == "d1" and orders.pending() == [] and notes.pending() == []
    assert orders.checkpoints and notes.checkpoints and not store.checkpoints


def test_pulled_documents_land_in_the_collection_the_message_names() -> None:
    store = store_for("4.1")
    saved: dict[str, dict[str, Any]] = {}
    peer = ScriptedPeer(gateway_answers(saved))
    group, ours, events = group_for("4.1", store)
    run(group, peer, ours)
    rev = "18ef000000000000@SGSGSGSGSGSGSGSGSGSGSG"
    run(group, peer, ours, send=[
        ({"Profile": "changes", "collection": "1"}, json.dumps([[5, "same-id", rev]]).encode()),
        ({"Profile": "rev", "id": "same-id", "rev": rev, "sequence": "5", "collection": "1"}, b'{"in":"notes"}'),
        ({"Profile": "changes", "collection": "0"}, b"null"),
        ({"Profile": "changes", "collection": "1"}, b"null"),
    ])
    assert group.state is ReplicatorState.DONE
    notes = store.collection("shop.notes").get("same-id")
    assert notes is not None and json.loads(notes.body) == {"in": "notes"}
    assert store.collection("shop.orders").get("same-id") is None and store.get("same-id") is None
    pulled = [e for e in events if e.kind is EventKind.PULLED]
    assert [(e.doc_id, e.collection) for e in pulled] == [("same-id", "shop.notes")]
    assert saved["1"]["remote"] == 5 and saved["0"].get("remote", 0) == 0


def test_a_missing_collection_fails_the_whole_replication_before_any_starts() -> None:
    store = store_for("4.1")
    peer = ScriptedPeer({"getCollections": lambda r: (None, b"[{},null]")})
    group, ours, events = group_for("4.1", store)
    run(group, peer, ours)
    assert group.state is ReplicatorState.FAILED and group.finished
    assert "Collection 'shop.notes' is not found on the remote server" in (group.error or "")
    assert peer.profiles() == ["getCollections"]
    assert any(e.kind is EventKind.ERROR for e in events)


def test_a_request_naming_no_collection_is_refused_and_a_short_reply_fails() -> None:
    store = store_for("3.4")
    peer = ScriptedPeer(gateway_answers({}))
    group, ours, _ = group_for("3.4", store)
    run(group, peer, ours, send=[({"Profile": "changes"}, b"[]")])
    assert [(e.code, e.domain) for e in peer.errors] == [(400, "BLIP")]
    assert "Invalid collection None for changes" in peer.errors[0].message
    bad, ours2, _ = group_for("3.4", store_for("3.4"))
    run(bad, ScriptedPeer({"getCollections": lambda r: (None, b"[{}]")}), ours2)
    assert bad.state is ReplicatorState.FAILED and "for 2 collection(s)" in (bad.error or "")


def test_stopping_before_get_collections_answers_ends_the_replication() -> None:
    group, ours, _ = group_for("4.1", store_for("4.1"))
    run(group, ScriptedPeer({"getCollections": lambda r: None}), ours)
    group.stop()
    assert group.state is ReplicatorState.DONE


def test_one_named_collection_alone_makes_3_3_collection_aware() -> None:
    store = store_for("3.3")
    store.collection("shop.orders").put("o1", {"n": 1})
    ours = BlipConnection()
    replicator = Replicator(ours, store.collection("shop.orders"), ReplicatorConfig(
        "cp-test", release=RELEASES["3.3"], collections=("shop.orders",)), clock=lambda: 0.0)
    peer = ScriptedPeer(gateway_answers({}) | {"getCollections": lambda r: (None, b"[{}]")})
    run(replicator, peer, ours)
    assert peer.profiles()[0] == "getCollections"
    assert json.loads(peer.received[0].body)["collections"] == ["shop.orders"]
    assert all(r.properties.get("collection") == "0" for r in peer.received[1:])


def test_a_continuous_replication_of_two_collections_saves_both_checkpoints_when_stopped() -> None:
    store = store_for("4.1")
    saved: dict[str, dict[str, Any]] = {}
    peer = ScriptedPeer(gateway_answers(saved))
    group, ours, _ = group_for("4.1", store, continuous=True)
    rev = "18ef000000000000@SGSGSGSGSGSGSGSGSGSGSG"
    run(group, peer, ours)
    run(group, peer, ours, send=[
        ({"Profile": "changes", "collection": "0"}, json.dumps([[3, "o1", rev]]).encode()),
        ({"Profile": "rev", "id": "o1", "rev": rev, "sequence": "3", "collection": "0"}, b"{}"),
        ({"Profile": "changes", "collection": "0"}, b"null"),
        ({"Profile": "changes", "collection": "1"}, b"null"),
    ])
    assert group.state is ReplicatorState.RUNNING and group.caught_up  # continuous: it stays
    store.collection("shop.notes").put("n1", {"n": 1})
    group.local_changed()  # the app saved a note: the notes collection proposes it at once
    run(group, peer, ours)
    assert [r.properties["collection"] for r in peer.received if r.profile == "rev"] == ["1"]
    group.stop()
    run(group, peer, ours)
    assert group.state is ReplicatorState.DONE
    assert saved["0"]["remote"] == 3 and saved["1"]["local"] == 1


@pytest.mark.parametrize("release", ["3.3", "4.1"])
def test_a_push_only_one_shot_with_nothing_to_push_ends_after_get_collections(release: str) -> None:
    """No message of its own follows the `getCollections` reply: each collection must see it is done
    then (it waited for ever: the final push of every device in a `rig run` over collections)."""
    saved: dict[str, dict[str, Any]] = {}
    peer = ScriptedPeer(gateway_answers(saved))
    group, ours, _ = group_for(release, store_for(release), pull=False)
    run(group, peer, ours)
    assert group.state is ReplicatorState.DONE
    assert "subChanges" not in peer.profiles() and set(saved) == {"0", "1"}
