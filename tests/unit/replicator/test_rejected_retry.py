"""A `rev` answered 403 is proposed and sent once more when the pusher would otherwise go idle, then
given up (LiteCore Pusher+Revs.cc, CBL-123): each release, against a scripted peer (no gateway)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from rig.blip import BlipConnection, Request
from rig.replicator import EventKind, ReplicationEvent, ReplicatorConfig
from rig.replicator.clients import RELEASES
from rig.replicator.replicator import Replicator, ReplicatorState
from tests.unit.replicator.scripted import Answer, ScriptedPeer, run, store_for

ALL = sorted(RELEASES)


def _push(release: str, rev_answer: Answer, docs: tuple[str, ...] = ("ok", "forged")
          ) -> tuple[Replicator, ScriptedPeer, list[ReplicationEvent]]:
    store = store_for(release)
    for doc_id in docs:
        store.put(doc_id, {"owner": doc_id})
    events: list[ReplicationEvent] = []
    ours = BlipConnection()
    replicator = Replicator(ours, store, ReplicatorConfig("cp-test", pull=False, release=RELEASES[release]),
                            clock=lambda: 0.0, observer=events.append)
    peer = ScriptedPeer({"getCollections": lambda r: (None, b"[{}]"), "getCheckpoint": lambda r: 404,
                         "proposeChanges": lambda r: (None, b"[]"), "rev": rev_answer,
                         "setCheckpoint": lambda r: ({"rev": "0-1"}, b"")})
    run(replicator, peer, ours, steps=200)
    return replicator, peer, events


def _forbid(doc_id: str) -> Answer:
    return lambda r: 403 if r.properties["id"] == doc_id else (None, b"")


def _sent(peer: ScriptedPeer) -> list[tuple[str, str]]:
    """(profile, doc) in the order the peer received them, one entry per proposed row or rev."""
    out: list[tuple[str, str]] = []
    for request in peer.received:
        if request.profile == "proposeChanges":
            out += [("proposeChanges", row[0]) for row in json.loads(request.body)]
        elif request.profile == "rev":
            out.append(("rev", request.properties["id"]))
    return out


@pytest.mark.parametrize("release", ALL)
def test_a_forbidden_write_is_proposed_and_sent_twice_then_given_up(release: str) -> None:
    replicator, peer, events = _push(release, _forbid("forged"))
    assert replicator.state is ReplicatorState.DONE, replicator.error
    sent = Counter(_sent(peer))
    assert sent[("proposeChanges", "forged")] == 2 and sent[("rev", "forged")] == 2
    assert sent[("proposeChanges", "ok")] == 1 and sent[("rev", "ok")] == 1
    # Once: the final refusal. The first one is LiteCore's transient error, not a rejection.
    assert [(e.kind, e.doc_id) for e in events if e.kind in (EventKind.REJECTED, EventKind.ERROR)] \
        == [(EventKind.REJECTED, "forged")]
    assert replicator.stats.rejected == 1 and replicator.stats.docs_pushed == 1
    forged = replicator.link.store.get("forged")
    assert forged is not None and forged.stalled_rev == forged.rev  # not pushed by the next replication


@pytest.mark.parametrize("release", ALL)
def test_the_retry_waits_until_everything_else_is_done(release: str) -> None:
    docs = ("forged", *(f"ok-{i}" for i in range(30)))
    _, peer, _ = _push(release, _forbid("forged"), docs)
    sent = _sent(peer)
    retry = sent.index(("proposeChanges", "forged"), 1)
    assert all(doc == "forged" for _, doc in sent[retry:])
    assert {("rev", f"ok-{i}") for i in range(30)} <= set(sent[:retry])


@pytest.mark.parametrize("release", ALL)
def test_a_write_accepted_on_its_retry_is_pushed(release: str) -> None:
    answers = iter([403])

    def flaky(request: Request) -> tuple[None, bytes] | int:
        return next(answers, None) or (None, b"")

    replicator, peer, events = _push(release, flaky, ("late",))
    assert Counter(_sent(peer))[("rev", "late")] == 2
    assert [e.kind for e in events if e.doc_id == "late"] == [EventKind.PUSHED]
    assert replicator.link.store.pending() == []


@pytest.mark.parametrize("release", ALL)
def test_a_401_is_not_retried(release: str) -> None:
    _, peer, events = _push(release, lambda r: 401, ("mine",))
    assert Counter(_sent(peer))[("rev", "mine")] == 1
    assert [e.kind for e in events if e.doc_id == "mine"] == [EventKind.REJECTED]


@pytest.mark.parametrize("release", ALL)
def test_a_rev_whose_reply_was_lost_counts_as_reply_lost_only_when_the_gateway_then_has_it(release: str) -> None:
    # The first connection dies with both revs unanswered (the gateway stored "kept", not "lost").
    store = store_for(release)
    for doc_id in ("kept", "lost"):
        store.put(doc_id, {"owner": doc_id})
    ours = BlipConnection()
    first = Replicator(ours, store, ReplicatorConfig("cp-test", pull=False, release=RELEASES[release]),
                       clock=lambda: 0.0)
    run(first, ScriptedPeer({"getCollections": lambda r: (None, b"[{}]"), "getCheckpoint": lambda r: 404,
                             "proposeChanges": lambda r: (None, b"[]"), "rev": lambda r: None}), ours, steps=100)
    assert set(store.awaiting_reply) == {"kept", "lost"} and store.pushed_replies_lost() == 0
    # The next connection proposes both again: 304 for "kept" (its reply was lost), 0 for "lost".
    ours = BlipConnection()
    second = Replicator(ours, store, ReplicatorConfig("cp-test", pull=False, release=RELEASES[release]),
                        clock=lambda: 0.0)
    peer = ScriptedPeer({"getCollections": lambda r: (None, b"[{}]"), "getCheckpoint": lambda r: 404,
                         "proposeChanges": lambda r: (None, json.dumps(
                             [304 if row[0] == "kept" else 0 for row in json.loads(r.body)]).encode()),
                         "rev": lambda r: (None, b""), "setCheckpoint": lambda r: ({"rev": "0-1"}, b"")})
    run(second, peer, ours, steps=200)
    assert second.state is ReplicatorState.DONE, second.error
    assert store.pushed_replies_lost() == 1 and not store.awaiting_reply
    assert second.stats.docs_pushed == 1  # "lost" was sent again; "kept" was not
