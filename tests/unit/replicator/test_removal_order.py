"""A removal row that overtakes the revision it follows: the device does what Couchbase Lite does.

Sync Gateway can send, on one connection, the changes row removing a document
(sequence 19) before the `rev` message for an older revision of it (sequence 18)
that the device asked for earlier (docs/known-gateway-defects.md). LiteCore purges
on the row (RevFinder::findRevs -> Puller::documentsRevoked -> Inserter) and then
inserts the revision when it arrives (IncomingRev): nothing on the wire tells it
that the revision is stale. The rig's replicator behaves the same, on purpose, so a
load run shows what a real phone would keep; these tests pin that down.
"""

from __future__ import annotations

import json

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


def _connected() -> tuple[Gateway, LocalStore]:
    store = LocalStore()
    ours = BlipConnection()
    replicator = Replicator(ours, store, ReplicatorConfig("cp-order", push=False, continuous=True))
    gateway = Gateway(replicator, ours)
    replicator.start()
    gateway.exchange()
    gateway.answer("getCheckpoint", error=404)
    gateway.answer("subChanges")
    gateway.send("changes", {}, b"null")
    return gateway, store


REV_2 = ({"id": "n", "rev": "2-b", "sequence": "18", "history": "1-a"}, b'{"team":"blue"}')


def test_a_revision_that_arrives_after_its_documents_removal_is_stored_as_couchbase_lite_does() -> None:
    gateway, store = _connected()
    gateway.send("changes", {}, json.dumps([[18, "n", "2-b"]]).encode())
    gateway.send("changes", {}, json.dumps([[19, "n", "3-c", 4]]).encode())
    assert store.get("n") is None  # purged (there was nothing yet)
    gateway.send("rev", *REV_2)
    doc = store.get("n")
    assert doc is not None and doc.rev == "2-b"  # kept: the stale copy the known defect leaves on a phone


def test_in_the_order_sent_by_sequence_the_removal_purges_the_revision() -> None:
    gateway, store = _connected()
    gateway.send("changes", {}, json.dumps([[18, "n", "2-b"]]).encode())
    gateway.send("rev", *REV_2)
    assert store.get("n") is not None
    gateway.send("changes", {}, json.dumps([[19, "n", "3-c", 4]]).encode())
    assert store.get("n") is None
