"""Orders of messages on one connection that the replicator must handle as Couchbase Lite does.

**A removal row that overtakes the revision it follows.**
Sync Gateway can send, on one connection, the changes row removing a document
(sequence 19) before the `rev` message for an older revision of it (sequence 18)
that the device asked for earlier (docs/known-gateway-defects.md). LiteCore purges
on the row (RevFinder::findRevs -> Puller::documentsRevoked -> Inserter) and then
inserts the revision when it arrives (IncomingRev): nothing on the wire tells it
that the revision is stale. The rig's replicator behaves the same, on purpose, so a
load run shows what a real phone would keep; two tests pin that down.

**A conflict resolved while its proposal is in flight.** A device proposes its
revision; before the gateway's 409 arrives, the pull brings the gateway's newer
revision and the conflict is resolved in the device's favour (a new revision on
top of the gateway's). The resolved revision must be proposed once the 409 is in,
as LiteCore's pusher does (the old proposal is obsolete, the new revision is a
local change like any other), also in a one-shot replication.
"""

from __future__ import annotations

import json

import pytest

from rig.blip import BlipConnection, Request
from rig.replicator import LocalStore, ReplicatorConfig
from rig.replicator.replicator import Replicator


class Gateway:
    """The gateway's end of the connection, scripted."""

    def __init__(self, replicator: Replicator, ours: BlipConnection) -> None:
        self.blip = BlipConnection()
        self.replicator = replicator
        self.ours = ours
        self.requests: list[Request] = []

    def exchange(self) -> None:
        for _ in range(10):
            frames = self.ours.data_to_send()
            if not frames:
                return
            for frame in frames:
                for event in self.blip.receive_frame(frame):
                    if isinstance(event, Request):
                        self.requests.append(event)
            self.deliver()

    def deliver(self) -> None:
        for frame in self.blip.data_to_send():
            for event in self.ours.receive_frame(frame):
                self.replicator.handle(event)

    def answer(self, profile: str, body: bytes = b"", *, error: int | None = None) -> None:
        request = next(r for r in self.requests if r.profile == profile)
        self.requests.remove(request)
        if error:
            self.blip.send_error(request.number, domain="HTTP", code=error, message="missing")
        else:
            self.blip.send_response(request.number, {}, body)
        self.deliver()
        self.exchange()

    def send(self, profile: str, properties: dict[str, str], body: bytes) -> None:
        self.blip.send_request({"Profile": profile, **properties}, body)
        self.deliver()
        self.exchange()


def _connected(store: LocalStore | None = None, *, push: bool = False, continuous: bool = True,
               caught_up: bool = True) -> tuple[Gateway, LocalStore, Replicator]:
    store = store if store is not None else LocalStore()
    ours = BlipConnection()
    replicator = Replicator(ours, store, ReplicatorConfig("cp-order", push=push, continuous=continuous))
    gateway = Gateway(replicator, ours)
    replicator.start()
    gateway.exchange()
    gateway.answer("getCheckpoint", error=404)
    gateway.answer("subChanges")
    if caught_up:
        gateway.send("changes", {}, b"null")
    return gateway, store, replicator


REV_2 = ({"id": "n", "rev": "2-b", "sequence": "18", "history": "1-a"}, b'{"team":"blue"}')


def test_a_revision_that_arrives_after_its_documents_removal_is_stored_as_couchbase_lite_does() -> None:
    gateway, store, _ = _connected()
    gateway.send("changes", {}, json.dumps([[18, "n", "2-b"]]).encode())
    gateway.send("changes", {}, json.dumps([[19, "n", "3-c", 4]]).encode())
    assert store.get("n") is None  # purged (there was nothing yet)
    gateway.send("rev", *REV_2)
    doc = store.get("n")
    assert doc is not None and doc.rev == "2-b"  # kept: the stale copy the known defect leaves on a phone


def test_in_the_order_sent_by_sequence_the_removal_purges_the_revision() -> None:
    gateway, store, _ = _connected()
    gateway.send("changes", {}, json.dumps([[18, "n", "2-b"]]).encode())
    gateway.send("rev", *REV_2)
    assert store.get("n") is not None
    gateway.send("changes", {}, json.dumps([[19, "n", "3-c", 4]]).encode())
    assert store.get("n") is None


def _proposals(gateway: Gateway) -> list[list[list[str]]]:
    return [json.loads(r.body) for r in gateway.requests if r.profile == "proposeChanges"]


@pytest.mark.parametrize("continuous", [False, True], ids=["one-shot", "continuous"])
def test_a_conflict_resolved_while_its_proposal_is_in_flight_is_proposed_after_the_409(continuous: bool) -> None:
    store = LocalStore()
    store.insert_remote("d", "1-a", (), b'{"n":1}', False)
    mine = store.put("d", {"n": "mine"})  # 2-..., on top of 1-a, pending
    theirs = "2-0000"  # another device's edit of 1-a, already on the gateway; ours wins the resolution
    gateway, store, replicator = _connected(store, push=True, continuous=continuous, caught_up=False)
    assert [p for p in _proposals(gateway) if p] == [[["d", mine.rev, "1-a"]]]
    gateway.send("changes", {}, json.dumps([[7, "d", theirs]]).encode())
    gateway.send("rev", {"id": "d", "rev": theirs, "sequence": "7", "history": "1-a"}, b'{"n":"theirs"}')
    resolved = store.get("d")
    assert resolved is not None and resolved.history[0] == theirs and resolved.pending
    gateway.send("changes", {}, b"null")  # the pull is caught up
    first = next(r for r in gateway.requests if r.profile == "proposeChanges")
    gateway.requests.remove(first)
    gateway.blip.send_response(first.number, {}, json.dumps([{"status": 409, "rev": theirs}]).encode())
    gateway.deliver()
    gateway.exchange()
    # (a continuous pusher then says it is caught up with an empty proposeChanges, as LiteCore does)
    assert [p for p in _proposals(gateway) if p] == [[["d", resolved.rev, theirs]]], \
        "the resolved revision was never proposed"
    assert not replicator.finished


def test_a_409_naming_our_revision_the_pull_learned_meanwhile_is_no_conflict() -> None:
    """The push of 2-x was stored but its reply lost (the device still names 1-a as the server's); the
    next proposal, 3-y against 1-a, is in flight when the pull's changes row names 2-x, which the device
    holds (recorded as the gateway's). The 409 naming 2-x is then no conflict: it was not what was
    proposed against. Seen flaky on the real gateway before (tests/replicator/test_push_pull.py)."""
    store = LocalStore()
    store.insert_remote("d", "1-a", (), b'{"n":1}', False)
    second = store.put("d", {"n": 2})
    store.mark_pushed("d", second.rev)
    doc = store.get("d")
    assert doc is not None
    doc.remote_rev = "1-a"  # the reply to the push of `second` never arrived
    third = store.put("d", {"n": 3})
    gateway, store, _ = _connected(store, push=True, continuous=False, caught_up=False)
    assert [p for p in _proposals(gateway) if p] == [[["d", third.rev, "1-a"]]]
    gateway.send("changes", {}, json.dumps([[9, "d", second.rev]]).encode())  # the gateway's current
    first = next(r for r in gateway.requests if r.profile == "proposeChanges")
    gateway.requests.remove(first)
    gateway.blip.send_response(first.number, {}, json.dumps([{"status": 409, "rev": second.rev}]).encode())
    gateway.deliver()
    gateway.exchange()
    assert [p for p in _proposals(gateway) if p] == [[["d", third.rev, second.rev]]], "not proposed again"
    assert store.get("d").stalled_rev is None  # type: ignore[union-attr]
