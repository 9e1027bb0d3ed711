"""The pusher's flow control as LiteCore's (Pusher::_maybeGetMoreChanges): a continuous push that has
caught up keeps one proposal in flight, and no push proposes more while 600 accepted revs wait to be
sent. Why it matters: with five proposals in flight a device writing 4/s to a slow gateway sent it a
one-row `proposeChanges` per write (issue 17's 1,000-device fleet); Couchbase Lite batches them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from rig.blip import Response
from rig.replicator.link import ReplicationStats
from rig.replicator.push import MAX_PROPOSALS_IN_FLIGHT, MAX_REVS_QUEUED, Pusher
from tests.unit.replicator.scripted import store_for


class _Link:
    """Records the pusher's requests; the test answers them."""

    def __init__(self) -> None:
        self.store = store_for("3.3")
        self.stats = ReplicationStats()
        self.sent: list[tuple[str, bytes, Callable[[Any], None] | None]] = []

    def request(self, properties: Mapping[str, str], body: bytes = b"", *,
                on_reply: Callable[[Any], None] | None = None, **_: object) -> None:
        self.sent.append((properties["Profile"], body, on_reply))

    def report(self, *_: object, **__: object) -> None:
        pass

    def proposals(self) -> list[list[str]]:
        return [[row[0] for row in json.loads(body)] for profile, body, reply in self.sent
                if profile == "proposeChanges" and reply is not None]


def _accept(link: _Link, index: int) -> None:
    _, body, on_reply = [s for s in link.sent if s[0] == "proposeChanges" and s[2] is not None][index]
    assert on_reply is not None
    on_reply(Response(number=1, properties={}, body=json.dumps([0] * len(json.loads(body))).encode()))


def _write(link: _Link, pusher: Pusher, doc_id: str) -> None:
    link.store.put(doc_id, {"n": doc_id})
    pusher.notify_local_change()


def test_a_caught_up_continuous_push_keeps_one_proposal_in_flight_and_batches_the_rest() -> None:
    link = _Link()
    pusher = Pusher(link, continuous=True)  # type: ignore[arg-type]
    pusher.start()  # nothing pending: caught up at once
    for doc_id in ("a", "b", "c"):
        _write(link, pusher, doc_id)
    assert link.proposals() == [["a"]]  # b and c wait for its reply
    _accept(link, 0)
    assert link.proposals() == [["a"], ["b", "c"]]


def test_a_push_catching_up_uses_five_proposals_and_a_one_shot_push_is_unchanged() -> None:
    for continuous in (True, False):
        link = _Link()
        for i in range(6 * 200):
            link.store.put(f"d{i}", {"n": i})
        pusher = Pusher(link, continuous=continuous)  # type: ignore[arg-type]
        pusher.start()
        assert len(link.proposals()) == MAX_PROPOSALS_IN_FLIGHT


def test_no_more_proposals_while_600_accepted_revs_wait_to_be_sent() -> None:
    link = _Link()
    for i in range(MAX_REVS_QUEUED + 200):
        link.store.put(f"d{i:04d}", {"n": i})
    pusher = Pusher(link, continuous=True)  # type: ignore[arg-type]
    pusher.start()
    for index in range(4):
        _accept(link, index)  # 800 accepted, 10 sent as revs: 790 queued
    assert len(link.proposals()) == 4
    _write(link, pusher, "late")
    assert len(link.proposals()) == 4  # not proposed while the queue is full
