"""Each Couchbase Lite release on the wire, without sockets: a scripted peer answers the replicator's requests.

The peer is a real BLIP codec driven by a script per profile; it checks what each release sends
(first message, `collection`, checkpoint round trips, vector rows and properties), not what a
gateway would decide (the tests in tests/replicator do that against the real one).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from rig._errors import ConfigError
from rig.blip import BlipConnection, Request
from rig.replicator import EventKind, LocalStore, ReplicationEvent, ReplicatorConfig
from rig.replicator.clients import RELEASES, V3, V4, Versioning, client_release
from rig.replicator.replicator import Replicator, ReplicatorState
from rig.replicator.versions import VersionVector
from tests.unit.replicator.scripted import ScriptedPeer, run, store_for


def replicator_for(release: str, store: LocalStore, **config: Any) -> tuple[Replicator, BlipConnection]:
    ours = BlipConnection()
    return Replicator(ours, store, ReplicatorConfig("cp-test", release=RELEASES[release], database_uuid="u-1",
                                                    **config), clock=lambda: 0.0, wall_clock=lambda: 1.0), ours


def test_releases_offer_subprotocols_as_litecore_does() -> None:
    r33, r34, r41 = RELEASES["3.3"], RELEASES["3.4"], RELEASES["4.1"]
    assert r33.subprotocols(push=True, pull=True) == (V3,)
    assert r33.subprotocols(push=True, pull=False) == (V3, V4)
    assert r34.subprotocols(push=True, pull=True) == (V3,)
    assert r34.subprotocols(push=True, pull=False) == (V4, V3)
    assert r41.subprotocols(push=True, pull=True) == (V4,)
    assert r41.subprotocols(push=False, pull=True) == (V4,)
    assert (r33.versioning, r34.versioning, r41.versioning) == (Versioning.REV_TREES, Versioning.REV_TREES,
                                                                 Versioning.VERSION_VECTORS)


def test_an_unknown_release_is_a_config_error_naming_where() -> None:
    with pytest.raises(ConfigError, match=r"--cbl: unknown Couchbase Lite release '4\.0'.*3\.3, 3\.4, 4\.1"):
        client_release("4.0", where="--cbl")


def test_a_replicator_refuses_a_database_of_the_other_versioning() -> None:
    with pytest.raises(ValueError, match="version-vectors database"):
        replicator_for("4.1", LocalStore())


def test_3_3_starts_with_legacy_get_checkpoint_and_does_not_wait_without_a_local_checkpoint() -> None:
    store = store_for("3.3")
    store.put("a", {"n": 1})
    replicator, ours = replicator_for("3.3", store)
    peer = ScriptedPeer({"getCheckpoint": lambda r: None})  # the reply never comes
    run(replicator, peer, ours)
    assert peer.profiles()[:3] == ["getCheckpoint", "subChanges", "proposeChanges"]
    assert all("collection" not in r.properties for r in peer.received)
    assert peer.received[1].properties["versioning"] == "rev-trees"


def test_3_3_with_a_local_checkpoint_waits_for_the_remote_one() -> None:
    store = store_for("3.3")
    store.checkpoints["cp-test"] = {"remote": 5, "local": 0}
    replicator, ours = replicator_for("3.3", store)
    peer = ScriptedPeer({"getCheckpoint": lambda r: None})
    run(replicator, peer, ours)
    assert peer.profiles() == ["getCheckpoint"]


@pytest.mark.parametrize("release", ["3.4", "4.1"])
def test_collection_aware_releases_start_with_get_collections_and_name_the_collection_after(release: str) -> None:
    store = store_for(release)
    store.put("a", {"n": 1})
    replicator, ours = replicator_for(release, store)
    peer = ScriptedPeer({"getCollections": lambda r: None})
    run(replicator, peer, ours)
    assert peer.profiles() == ["getCollections"]  # nothing else before its reply
    request = peer.received[0]
    assert "collection" not in request.properties and request.properties["uuid"] == "u-1"
    assert json.loads(request.body) == {"checkpoint_ids": ["cp-test"], "collections": ["_default"]}

    peer.answers["getCollections"] = lambda r: (None, b"[{}]")
    peer.blip.send_response(request.number, None, b"[{}]")
    run(replicator, peer, ours)
    later = peer.received[1:]
    assert [r.profile for r in later][:2] == ["subChanges", "proposeChanges"]
    assert all(r.properties.get("collection") == "0" for r in later)


@pytest.mark.parametrize(("release", "round_trip"), [("3.4", True), ("4.1", True), ("3.3", False)])
def test_an_existing_checkpoint_costs_3_4_and_4_1_a_failed_save_and_a_reread(release: str, round_trip: bool) -> None:
    store = store_for(release)
    store.checkpoints["cp-test"] = {"remote": 7, "local": 0}
    store.mark_pushed("a", store.put("a", {"n": 1}).rev)  # the local position moved: the checkpoint is saved
    saved: list[str | None] = []

    def set_checkpoint(request: Request) -> tuple[dict[str, str], bytes] | int:
        saved.append(request.properties.get("rev"))
        return 409 if request.properties.get("rev") != "0-3" else ({"rev": "0-4"}, b"")

    peer = ScriptedPeer({
        "getCollections": lambda r: (None, b'[{"remote":7,"local":0,"time":1,"_rev":"0-3"}]'),
        "getCheckpoint": lambda r: ({"rev": "0-3"}, b'{"remote":7,"local":0,"time":1}'),
        "setCheckpoint": set_checkpoint,
        "subChanges": lambda r: (None, b""),
    })
    replicator, ours = replicator_for(release, store, push=False)
    run(replicator, peer, ours, send=[({"Profile": "changes", "collection": "0"}, b"null")])
    assert replicator.state is ReplicatorState.DONE
    subscribe = next(r for r in peer.received if r.profile == "subChanges")
    assert subscribe.properties["since"] == "7"
    checkpoint_profiles = [p for p in peer.profiles() if p.endswith("Checkpoint")]
    if round_trip:
        assert checkpoint_profiles == ["setCheckpoint", "getCheckpoint", "setCheckpoint"]
        assert saved == [None, "0-3"]
    else:
        assert checkpoint_profiles == ["getCheckpoint", "setCheckpoint"]
        assert saved == ["0-3"]


def test_a_missing_collection_fails_the_replication() -> None:
    replicator, ours = replicator_for("4.1", store_for("4.1"))
    run(replicator, ScriptedPeer({"getCollections": lambda r: (None, b"[null]")}), ours)
    assert replicator.state is ReplicatorState.FAILED
    assert "Collection '_default' is not found on the remote server" in (replicator.error or "")


def test_4_1_pushes_vectors_and_answers_changes_with_its_current_version() -> None:
    store = store_for("4.1")
    pulled = VersionVector.parse("18ed000000000000@SGSGSGSGSGSGSGSGSGSGSG")
    store.insert_remote_vector("a", pulled, b'{"v":0}', False)
    store.insert_remote_vector("d", pulled, b'{"v":0}', False)
    edited = store.put("a", {"v": 1})
    assert edited.vector is not None
    peer = ScriptedPeer({"getCollections": lambda r: (None, b"[{}]"), "subChanges": lambda r: (None, b""),
                         "proposeChanges": lambda r: (None, b"[]"), "rev": lambda r: (None, b""),
                         "setCheckpoint": lambda r: ({"rev": "0-1"}, b"")})
    replicator, ours = replicator_for("4.1", store)
    rows = json.dumps([[1, "a", "18ef000000000000@OTHEROTHEROTHEROTHEROT"], [2, "b", "5@SGSGSGSGSGSGSGSGSGSGSG"],
                       [3, "d", str(pulled.current)]]).encode()
    run(replicator, peer, ours)
    run(replicator, peer, ours, send=[({"Profile": "changes", "collection": "0"}, rows)])

    subscribe = next(r for r in peer.received if r.profile == "subChanges")
    assert subscribe.properties["versioning"] == "version-vectors"
    propose = next(r for r in peer.received if r.profile == "proposeChanges")
    assert json.loads(propose.body) == [["a", edited.vector.text, str(pulled.current)]]
    assert edited.vector.text == f"{edited.rev};{pulled.current}"
    rev = next(r for r in peer.received if r.profile == "rev")
    assert (rev.properties["rev"], rev.properties["history"]) == (edited.rev, str(pulled.current))
    assert rev.properties["collection"] == "0"
    reply = next(e for e in _replies(peer) if e[1].startswith(b"["))
    assert "maxHistory" not in reply[0]
    assert json.loads(reply[1]) == [[edited.rev], []]  # pushed by then: local and remote are one version


def _replies(peer: ScriptedPeer) -> list[tuple[dict[str, str], bytes]]:
    return [(dict(r.properties), r.body) for r in peer.replies]


def test_4_1_resolves_a_pulled_conflict_and_pushes_the_merge() -> None:
    store = store_for("4.1")
    base = VersionVector.parse("18ed000000000000@SGSGSGSGSGSGSGSGSGSGSG")
    store.insert_remote_vector("a", base, b'{"v":0}', False)
    mine = store.put("a", {"v": "mine"})  # offline edit, clock 0x18ee...
    theirs = base.with_new_version(VersionVector.parse("18ec000000000000@OTHEROTHEROTHEROTHEROT").current)
    events: list[ReplicationEvent] = []
    ours = BlipConnection()
    replicator = Replicator(ours, store, ReplicatorConfig("cp-test", release=RELEASES["4.1"]),
                            clock=lambda: 0.0, observer=events.append)
    proposals: list[Any] = []

    def propose(request: Request) -> tuple[None, bytes]:
        proposals.append(json.loads(request.body))
        if len(proposals) == 1:  # the gateway already has their edit
            return None, json.dumps([{"status": 409, "rev": str(theirs.current)}]).encode()
        return None, b"[]"

    peer = ScriptedPeer({"getCollections": lambda r: (None, b"[{}]"), "subChanges": lambda r: (None, b""),
                         "proposeChanges": propose, "rev": lambda r: (None, b""),
                         "setCheckpoint": lambda r: ({"rev": "0-1"}, b"")})
    run(replicator, peer, ours)
    assert proposals == [[["a", mine.vector.text, str(base.current)]]]  # type: ignore[union-attr]
    row = json.dumps([[4, "a", str(theirs.current)]]).encode()
    run(replicator, peer, ours, send=[({"Profile": "changes", "collection": "0"}, row),
                                      ({"Profile": "rev", "id": "a", "rev": str(theirs.current),
                                        "history": theirs.history, "sequence": "4", "collection": "0"},
                                       b'{"v":"theirs"}')])
    assert any(e.kind is EventKind.CONFLICT for e in events)
    doc = store.get("a")
    assert doc is not None and doc.vector is not None
    assert json.loads(doc.body) == {"v": "mine"}  # the newer timestamp (ours) wins
    assert set(doc.vector.merges) == {mine.vector.current, theirs.current}  # type: ignore[union-attr]
    assert doc.remote_rev == doc.rev and store.pending() == []  # the merge was pushed
    assert proposals[-1] == [["a", doc.vector.text, str(theirs.current)]]
    rev = [r for r in peer.received if r.profile == "rev"][-1]
    assert rev.properties["rev"] == doc.rev and rev.properties["history"].count(";") == 1
    assert VersionVector.from_rev(rev.properties["rev"], rev.properties["history"]) == doc.vector
