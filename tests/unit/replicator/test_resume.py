"""Where a pull resumes (LiteCore `Checkpoint::validateWith`), the first sync's `activeOnly`, and a
checkpoint save that fails with anything but 409: each release, against a scripted peer (no gateway)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rig.blip import BlipConnection, Request
from rig.replicator import EventKind, ReplicationEvent, ReplicatorConfig
from rig.replicator.clients import RELEASES
from rig.replicator.replicator import Replicator, ReplicatorState
from rig.replicator.resume import ParsedSequence, resume_point
from tests.unit.replicator.scripted import ScriptedPeer, run, store_for
from tests.unit.replicator.test_releases import replicator_for

ALL = sorted(RELEASES)


@pytest.mark.parametrize(("text", "parsed"), [
    (42, ParsedSequence(42)), ("42", ParsedSequence(42)), ("100:35", ParsedSequence(35, triggered_by=100)),
    ("20:100:35", ParsedSequence(35, triggered_by=100, low_seq=20)), ("20::35", ParsedSequence(35, low_seq=20)),
])
def test_sequences_parse_as_litecore_parses_them(text: Any, parsed: ParsedSequence) -> None:
    assert ParsedSequence.parse(text) == parsed


@pytest.mark.parametrize("text", ["", "12:", ":12", "1:2:3:4", "1::", "x", "1.5", -1, True, None, 1.5, "1:x"])
def test_what_litecore_cannot_parse_is_none(text: Any) -> None:
    assert ParsedSequence.parse(text) is None


@pytest.mark.parametrize(("a", "b", "before"), [
    ("5", "6", True), ("6", "5", False), ("5", "5", False),
    ("5", "100:3", True), ("100", "100:3", False),          # simple vs triggered: seq < triggeredBy
    ("100:3", "100", True), ("100:3", "99", False),        # triggered vs simple: triggeredBy <= seq
    ("100:3", "100:4", True), ("99:9", "100:1", True),
    ("20::35", "21", True), ("20::35", "20", False),      # lowSeq vs simple: lowSeq < seq
    ("20", "20::35", True), ("21", "20::35", False),      # simple vs lowSeq: seq <= lowSeq
    ("20::35", "20::36", True), ("20:5:35", "20:6:1", True), ("19::99", "20::1", True),
    ("20:100:35", "100:1", True), ("100:3", "100::1", True),
])
def test_sequences_order_as_sync_gateway_orders_them(a: str, b: str, before: bool) -> None:
    pa, pb = ParsedSequence.parse(a), ParsedSequence.parse(b)
    assert pa is not None and pb is not None
    assert pa.before(pb) is before


@pytest.mark.parametrize("orders_compound", [False, True])
def test_differing_integer_checkpoints_resume_from_the_earlier(orders_compound: bool) -> None:
    # The gateway saved a checkpoint whose reply the device never saw: its copy is one save behind.
    assert resume_point({"remote": 40}, {"remote": 55}, orders_compound=orders_compound) == 40
    # The gateway's copy behind the device's (restored from a backup, say): the gateway's.
    assert resume_point({"remote": 55}, {"remote": 40}, orders_compound=orders_compound) == 40
    assert resume_point({"remote": 55}, {"remote": 55}, orders_compound=orders_compound) == 55


@pytest.mark.parametrize("orders_compound", [False, True])
def test_no_local_checkpoint_or_no_remote_one_starts_from_zero(orders_compound: bool) -> None:
    assert resume_point(None, {"remote": 55}, orders_compound=orders_compound) == 0
    assert resume_point({"local": 3}, {"remote": 55}, orders_compound=orders_compound) == 0
    assert resume_point({"remote": 55}, {}, orders_compound=orders_compound) == 0


def test_compound_sequences_are_ordered_from_3_4_and_reset_before() -> None:
    assert resume_point({"remote": "20::35"}, {"remote": "20::40"}, orders_compound=True) == "20::35"
    assert resume_point({"remote": "30"}, {"remote": "20::40"}, orders_compound=True) == "20::40"
    assert resume_point({"remote": "20::35"}, {"remote": "20::40"}, orders_compound=False) == 0
    assert resume_point({"remote": "20::35"}, {"remote": "20::35"}, orders_compound=False) == "20::35"
    assert resume_point({"remote": "junk"}, {"remote": 5}, orders_compound=True) == 0


def _checkpoint_answers(remote_body: dict[str, Any], *, save: int | None = None) -> dict[str, Any]:
    entry = json.dumps([{**remote_body, "_rev": "0-3"}]).encode()

    def set_checkpoint(request: Request) -> tuple[dict[str, str], bytes] | int:
        return save if save is not None else ({"rev": "0-4"}, b"")

    return {"getCollections": lambda r: (None, entry),
            "getCheckpoint": lambda r: ({"rev": "0-3"}, json.dumps(remote_body).encode()),
            "setCheckpoint": set_checkpoint,
            "subChanges": lambda r: (None, b"")}


def _subscribe(peer: ScriptedPeer) -> Request:
    return next(r for r in peer.received if r.profile == "subChanges")


@pytest.mark.parametrize("release", ALL)
def test_a_checkpoint_behind_the_gateways_resumes_from_the_device_copy_not_zero(release: str) -> None:
    store = store_for(release)
    store.checkpoints["cp-test"] = {"remote": 40, "local": 0}
    peer = ScriptedPeer(_checkpoint_answers({"remote": 55, "local": 0, "time": 1}))
    replicator, ours = replicator_for(release, store, push=False)
    run(replicator, peer, ours)
    assert _subscribe(peer).properties["since"] == "40"
    assert "activeOnly" not in _subscribe(peer).properties


@pytest.mark.parametrize("release", ALL)
def test_a_first_sync_into_an_empty_database_asks_for_active_documents_only(release: str) -> None:
    peer = ScriptedPeer(_checkpoint_answers({}))
    replicator, ours = replicator_for(release, store_for(release))
    run(replicator, peer, ours)
    assert _subscribe(peer).properties["activeOnly"] == "true"
    assert _subscribe(peer).properties["since"] == "0"


@pytest.mark.parametrize("release", ALL)
@pytest.mark.parametrize("why", ["a local document", "a local checkpoint"])
def test_a_database_with_documents_or_a_checkpoint_asks_for_tombstones_too(release: str, why: str) -> None:
    store = store_for(release)
    if why == "a local document":
        store.put("a", {"n": 1})
    else:
        store.checkpoints["cp-test"] = {"remote": 5, "local": 0}
    peer = ScriptedPeer(_checkpoint_answers({"remote": 5, "local": 0}))
    replicator, ours = replicator_for(release, store, push=False)
    run(replicator, peer, ours)
    assert "activeOnly" not in _subscribe(peer).properties


@pytest.mark.parametrize("release", ALL)
def test_a_checkpoint_save_refused_with_500_is_logged_and_the_replication_goes_on(release: str) -> None:
    store = store_for(release)
    store.checkpoints["cp-test"] = {"remote": 5, "local": 0}
    events: list[ReplicationEvent] = []
    peer = ScriptedPeer(_checkpoint_answers({"remote": 5, "local": 0}, save=500))
    ours = BlipConnection()
    replicator = Replicator(ours, store, ReplicatorConfig("cp-test", push=False, release=RELEASES[release]),
                            clock=lambda: 0.0, observer=events.append)
    run(replicator, peer, ours)
    rev = "5@SGSGSGSGSGSGSGSGSGSGSG" if RELEASES[release].uses_version_vectors else "1-a"
    rows = json.dumps([[6, "a", rev]]).encode()
    run(replicator, peer, ours, send=[({"Profile": "changes", "collection": "0"}, rows),
                                      ({"Profile": "rev", "id": "a", "rev": rev, "sequence": "6",
                                        "collection": "0"}, b'{"n":1}'),
                                      ({"Profile": "changes", "collection": "0"}, b"null")])
    assert replicator.state is ReplicatorState.DONE, replicator.error
    assert [e.detail for e in events if e.kind is EventKind.ERROR] == ["HTTP 500: setCheckpoint: scripted"]
    assert replicator.stats.docs_pulled == 1
    assert store.checkpoints["cp-test"] == {"remote": 5, "local": 0}  # the device's copy did not move
