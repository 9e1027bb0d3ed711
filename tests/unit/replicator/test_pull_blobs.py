"""Pulled attachments as LiteCore's IncomingRev fetches them (IncomingRev+Blobs.cc): one blob at a time,
`compress=true` when compressible, and a failed or mismatching blob fails the `rev` with an error reply,
nothing stored. Each release, against a scripted peer (no gateway)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rig.blip import BlipConnection, Request
from rig.replicator import EventKind, ReplicationEvent, ReplicatorConfig
from rig.replicator.clients import RELEASES
from rig.replicator.pull import likely_compressible
from rig.replicator.replicator import Replicator
from rig.replicator.revisions import attachment_digest
from tests.unit.replicator.scripted import ScriptedPeer, run, store_for

ALL = sorted(RELEASES)
NOTES, PHOTO = b'{"text": "notes"}' * 20, bytes(range(256)) * 4


def _rev_with_attachments(release: str) -> tuple[dict[str, str], bytes]:
    rev = "5@SGSGSGSGSGSGSGSGSGSGSG" if RELEASES[release].uses_version_vectors else "1-abc"
    body = {"n": 1, "_attachments": {
        "notes.json": {"stub": True, "digest": attachment_digest(NOTES), "length": len(NOTES),
                       "content_type": "application/json"},
        "photo.png": {"stub": True, "digest": attachment_digest(PHOTO), "length": len(PHOTO),
                      "content_type": "image/png"}}}
    return ({"Profile": "rev", "id": "doc", "rev": rev, "sequence": "1", "collection": "0"},
            json.dumps(body).encode())


def _puller(release: str, blobs: dict[str, bytes] | None, *, held: bool = False
            ) -> tuple[Replicator, ScriptedPeer, BlipConnection, list[ReplicationEvent]]:
    def get_attachment(request: Request) -> tuple[None, bytes] | int | None:
        if held:
            return None
        data = (blobs or {}).get(request.properties["digest"])
        return 404 if data is None else (None, data)

    events: list[ReplicationEvent] = []
    ours = BlipConnection()
    replicator = Replicator(ours, store_for(release), ReplicatorConfig("cp-test", push=False,
                                                                       release=RELEASES[release]),
                            clock=lambda: 0.0, observer=events.append)
    peer = ScriptedPeer({"getCollections": lambda r: (None, b"[{}]"), "getCheckpoint": lambda r: 404,
                          "subChanges": lambda r: (None, b""), "getAttachment": get_attachment})
    run(replicator, peer, ours)
    rev = _rev_with_attachments(release)
    row = json.dumps([[1, "doc", rev[0]["rev"]]]).encode()
    run(replicator, peer, ours, send=[({"Profile": "changes", "collection": "0"}, row), rev])
    return replicator, peer, ours, events


def _fetches(peer: ScriptedPeer) -> list[Request]:
    return [r for r in peer.received if r.profile == "getAttachment"]


@pytest.mark.parametrize("release", ALL)
def test_blobs_are_fetched_one_at_a_time_compressed_when_compressible(release: str) -> None:
    replicator, peer, ours, _ = _puller(release, None, held=True)
    fetches = _fetches(peer)
    assert len(fetches) == 1  # the second waits for the first's reply
    assert fetches[0].properties["digest"] == attachment_digest(NOTES)
    assert fetches[0].properties["compress"] == "true" and fetches[0].properties["docID"] == "doc"
    peer.blip.send_response(fetches[0].number, None, NOTES)
    run(replicator, peer, ours)
    fetches = _fetches(peer)
    assert len(fetches) == 2 and fetches[1].properties["digest"] == attachment_digest(PHOTO)
    assert "compress" not in fetches[1].properties  # image/*: LiteCore does not ask
    assert replicator.link.store.get("doc") is None  # not stored before its last blob
    peer.blip.send_response(fetches[1].number, None, PHOTO)
    run(replicator, peer, ours)
    doc = replicator.link.store.get("doc")
    assert doc is not None and set(doc.attachment_stubs()) == {"notes.json", "photo.png"}
    assert replicator.stats.attachments_pulled == 2 and peer.errors == []


@pytest.mark.parametrize("release", ALL)
def test_a_missing_blob_fails_the_rev_and_stores_nothing(release: str) -> None:
    replicator, peer, _, events = _puller(release, {attachment_digest(NOTES): NOTES})
    assert replicator.link.store.get("doc") is None
    assert [(e.domain, e.code) for e in peer.errors] == [("HTTP", 404)]
    assert [e.doc_id for e in events if e.kind is EventKind.ERROR] == ["doc"]
    assert not any(e.kind is EventKind.PULLED for e in events)
    assert replicator.stats.docs_pulled == 0
    tracker = replicator.puller.tracker if replicator.puller is not None else None
    assert tracker is not None and tracker.outstanding == 0 and tracker.checkpoint == 1  # moves past it


@pytest.mark.parametrize("release", ALL)
def test_a_blob_that_does_not_match_its_digest_fails_the_rev(release: str) -> None:
    replicator, peer, _, events = _puller(release, {attachment_digest(NOTES): b"something else"})
    assert replicator.link.store.get("doc") is None
    assert [(e.domain, e.code) for e in peer.errors] == [("LiteCore", 15)]  # kC4ErrorCorruptData
    assert len(_fetches(peer)) == 1  # the rest is not fetched
    assert attachment_digest(b"something else") not in replicator.link.store.blobs
    assert "digest mismatch" in next(e.detail for e in events if e.kind is EventKind.ERROR)


@pytest.mark.parametrize(("stub", "compressible"), [
    ({"content_type": "application/json"}, True), ({"content_type": "text/plain"}, True),
    ({"content_type": "image/svg+xml"}, False), ({"content_type": "IMAGE/JPEG"}, False),
    ({"content_type": "application/zip"}, False), ({"content_type": "video/mp4"}, False),
    ({"content_type": "text/plain", "encoding": "gzip"}, False),  # "zip" is in "gzip"
    ({"content_type": "text/plain", "encoding": "identity"}, True),
    ({}, False), ({"content_type": ""}, False), ({"content_type": "application/pkcs7-mime"}, False),
])
def test_compressible_as_litecore_guesses(stub: dict[str, Any], compressible: bool) -> None:
    assert likely_compressible(stub) is compressible
