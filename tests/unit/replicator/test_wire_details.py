"""Issue 13 item 6, wire details as LiteCore sends them (ReplicatorTuning.hh, RevFinder.cc, Pusher.cc,
Pusher+Revs.cc): every release against a scripted peer (no gateway)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rig.blip import BlipConnection, Request
from rig.replicator import ReplicatorConfig
from rig.replicator.clients import RELEASES
from rig.replicator.replicator import Replicator
from tests.unit.replicator.scripted import Answer, ScriptedPeer, run, store_for

ALL = sorted(RELEASES)


class RecordingBlip(BlipConnection):
    """Our side of the connection, remembering which messages it deflated."""

    def __init__(self) -> None:
        super().__init__()
        self.compressed: list[tuple[str, bool]] = []

    def send_request(self, properties: Any, body: bytes = b"", **kw: Any) -> int:
        self.compressed.append((properties.get("Profile", ""), bool(kw.get("compress"))))
        return super().send_request(properties, body, **kw)

    def send_response(self, number: int, properties: Any = None, body: bytes = b"", **kw: Any) -> None:
        self.compressed.append(("reply", bool(kw.get("compress"))))
        super().send_response(number, properties, body, **kw)


def _replicator(release: str, answers: dict[str, Answer], *, push: bool = True, pull: bool = True,
                docs: int = 0, body_size: int = 10) -> tuple[Replicator, ScriptedPeer, RecordingBlip]:
    store = store_for(release)
    for i in range(docs):
        store.put(f"d{i:05}", {"pad": "x" * body_size})
    ours = RecordingBlip()
    replicator = Replicator(ours, store, ReplicatorConfig("cp-test", push=push, pull=pull,
                                                          release=RELEASES[release]), clock=lambda: 0.0)
    base: dict[str, Answer] = {"getCollections": lambda r: (None, b"[{}]"), "getCheckpoint": lambda r: 404,
                               "subChanges": lambda r: (None, b""), "setCheckpoint": lambda r: ({"rev": "0-1"}, b"")}
    peer = ScriptedPeer({**base, **answers})
    run(replicator, peer, ours)
    return replicator, peer, ours


@pytest.mark.parametrize("release", ALL)
def test_every_rev_proposal_and_changes_reply_is_deflated_whatever_its_size(release: str) -> None:
    replicator, peer, ours = _replicator(release, {"proposeChanges": lambda r: (None, b"[]"),
                                                   "rev": lambda r: (None, b"")}, docs=1)
    rev = "5@SGSGSGSGSGSGSGSGSGSGSG" if RELEASES[release].uses_version_vectors else "1-abc"
    run(replicator, peer, ours, send=[({"Profile": "changes", "collection": "0"},
                                       json.dumps([[1, "pulled", rev]]).encode())])
    flags = dict(ours.compressed)
    assert flags["proposeChanges"] and flags["rev"] and flags["reply"]
    reply = peer.replies[-1]
    if RELEASES[release].uses_version_vectors:
        assert "maxHistory" not in reply.properties
    else:
        assert reply.properties["maxHistory"] == "50"


def test_a_changes_reply_lists_at_most_10_known_revisions() -> None:
    store = store_for("3.3")
    store.insert_remote("a", "20-x", tuple(f"{g}-x" for g in range(19, 0, -1)), b"{}", False)
    assert store.known_revs("a") == ["20-x", *(f"{g}-x" for g in range(19, 10, -1))]


@pytest.mark.parametrize("release", ALL)
def test_up_to_5_proposal_lists_await_replies(release: str) -> None:
    _, peer, _ = _replicator(release, {"proposeChanges": lambda r: None}, pull=False, docs=1200)
    proposals = [r for r in peer.received if r.profile == "proposeChanges"]
    assert [len(json.loads(r.body)) for r in proposals] == [200] * 5


@pytest.mark.parametrize("release", ALL)
def test_revs_stop_at_2_mb_awaiting_replies(release: str) -> None:
    def accept_all(request: Request) -> tuple[None, bytes]:
        return None, json.dumps([0] * len(json.loads(request.body))).encode()

    _, peer, _ = _replicator(release, {"proposeChanges": accept_all, "rev": lambda r: None}, pull=False,
                             docs=10, body_size=300_000)
    assert len([r for r in peer.received if r.profile == "rev"]) == 7  # 7 x 300 KB passes 2 MB


@pytest.mark.parametrize("release", ALL)
def test_a_changes_row_naming_a_held_revision_records_it_as_the_gateways(release: str) -> None:
    # The device pushed its edit but the reply was lost: it still thinks the gateway lacks it.
    replicator, peer, ours = _replicator(release, {"proposeChanges": lambda r: None}, pull=True, push=False, docs=1)
    doc = replicator.link.store.get("d00000")
    assert doc is not None and doc.pending
    run(replicator, peer, ours, send=[({"Profile": "changes", "collection": "0"},
                                       json.dumps([[7, "d00000", doc.rev]]).encode())])
    assert not doc.pending and replicator.link.store.pending() == []
    assert json.loads(peer.replies[-1].body) == []  # "have it"


@pytest.mark.parametrize("release", ALL)
@pytest.mark.parametrize(("pending", "continuous", "lists"), [
    (0, False, [0]), (3, False, [3]), (200, False, [200, 0]), (3, True, [3, 0]), (0, True, [0]),
])
def test_an_empty_proposal_without_reply_when_the_local_feed_comes_back_empty(
    release: str, pending: int, continuous: bool, lists: list[int]
) -> None:
    store = store_for(release)
    for i in range(pending):
        store.put(f"d{i:05}", {"n": i})
    ours = BlipConnection()
    replicator = Replicator(ours, store, ReplicatorConfig("cp-test", pull=False, continuous=continuous,
                                                          release=RELEASES[release]), clock=lambda: 0.0)
    peer = ScriptedPeer({"getCollections": lambda r: (None, b"[{}]"), "getCheckpoint": lambda r: 404,
                         "proposeChanges": lambda r: None})
    run(replicator, peer, ours)
    proposals = [r for r in peer.received if r.profile == "proposeChanges"]
    assert [len(json.loads(r.body)) for r in proposals] == lists
    assert [r.no_reply for r in proposals] == [n == 0 for n in lists]
