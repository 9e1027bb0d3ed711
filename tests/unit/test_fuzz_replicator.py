"""A gateway that speaks valid BLIP but sends nonsense: the replicator fails with a typed error, never crashes.

A scripted peer (a real BlipConnection on the other end) sends requests of every
profile the replicator handles, and replies to the replicator's own requests, with
arbitrary properties and bodies (random bytes, JSON of any shape). Whatever arrives, the
replicator either goes on or ends FAILED with a ReplicationError (RemoteDataError for
content of the wrong shape); no other exception leaves it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rig._errors import RemoteDataError, ReplicationError
from rig.blip import BlipConnection, Request
from rig.replicator import LocalStore, ReplicatorConfig
from rig.replicator.replicator import Replicator, ReplicatorState

FUZZ = settings(max_examples=int(os.environ.get("RIG_FUZZ_EXAMPLES", "250")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

keys = st.sampled_from(["_attachments", "_removed", "_deleted", "digest", "remote", "local", "length", "x"])
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**70) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys | st.text(max_size=3), inner, max_size=4),
    max_leaves=12)
body = st.one_of(st.binary(max_size=40), json_value.map(lambda v: json.dumps(v).encode()), st.just(b""))
properties = st.dictionaries(
    st.sampled_from(["id", "rev", "history", "deleted", "digest", "docID", "sequence", "error", "reason", "rev"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=10), max_size=5)
action = st.one_of(
    st.tuples(st.just("request"), st.sampled_from(["changes", "rev", "norev", "getAttachment", "proveAttachment",
                                                   "unknown"]), properties, body, st.booleans()),
    st.tuples(st.just("reply"), st.booleans(), properties, body, st.integers(0, 3)),
)


class Peer:
    """The gateway's end: a real codec, requests owed a reply kept in arrival order."""

    def __init__(self) -> None:
        self.blip = BlipConnection()
        self.owed: list[int] = []

    def take(self, frames: list[bytes]) -> None:
        for frame in frames:
            for event in self.blip.receive_frame(frame):
                if isinstance(event, Request) and not event.no_reply:
                    self.owed.append(event.number)

    def act(self, step: tuple[Any, ...]) -> None:
        if step[0] == "request":
            _, profile, props, data, no_reply = step
            self.blip.send_request({**props, "Profile": profile}, data, no_reply=no_reply)
        elif self.owed:
            _, ok, props, data, pick = step
            number = self.owed.pop(pick % len(self.owed))
            if ok:
                self.blip.send_response(number, props, data)
            else:
                self.blip.send_error(number, code=500, domain="HTTP", message="nonsense")


@FUZZ
@given(st.lists(action, max_size=10), st.booleans(), st.booleans())
@example([("request", "changes", {}, b"", False), ("reply", False, {}, b"", 0),
          ("reply", True, {}, b"[Infinity]", 1)], True, False)  # a proposeChanges status int() cannot take
def test_nonsense_from_a_valid_blip_peer_fails_the_replication_with_a_typed_error(
    steps: list[tuple[Any, ...]], push: bool, continuous: bool
) -> None:
    store = LocalStore()
    if push:
        store.put("local-doc", {"channels": ["a"], "n": 1})
    ours = BlipConnection()
    replicator = Replicator(ours, store, ReplicatorConfig("cp-fuzz", push=push, continuous=continuous,
                                                          checkpoint_interval=0.0))
    peer = Peer()
    replicator.start()
    for step in steps:
        peer.take(ours.data_to_send())
        peer.act(step)
        for frame in peer.blip.data_to_send():
            for event in ours.receive_frame(frame):
                replicator.handle(event)
        replicator.tick()
        if replicator.finished:
            break
    if replicator.state is ReplicatorState.FAILED:
        assert isinstance(replicator.failure, ReplicationError)
        assert replicator.error


def test_a_changes_body_that_is_not_json_is_a_remote_data_error() -> None:
    ours, peer = BlipConnection(), Peer()
    replicator = Replicator(ours, LocalStore(), ReplicatorConfig("cp", push=False))
    replicator.start()
    peer.take(ours.data_to_send())
    peer.blip.send_response(peer.owed.pop(0), {}, b"{}")  # checkpoint: none yet
    for frame in peer.blip.data_to_send():
        for event in ours.receive_frame(frame):
            replicator.handle(event)
    peer.blip.send_request({"Profile": "changes"}, b"<html>502 Bad Gateway</html>")
    for frame in peer.blip.data_to_send():
        for event in ours.receive_frame(frame):
            replicator.handle(event)
    assert replicator.state is ReplicatorState.FAILED
    assert isinstance(replicator.failure, RemoteDataError)
    assert replicator.failure.profile == "changes"
    assert "JSONDecodeError" in str(replicator.failure)
