"""Issue 13 item 5 against the real Sync Gateway, each release: pulled attachments are fetched one at a
time, with `compress=true` where Couchbase Lite asks for it, and the gateway's compressed reply is the blob."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from rig.device import VirtualDevice
from rig.gateway import AdminClient
from rig.replicator import Attachment
from rig.replicator.revisions import attachment_digest
from rig.replicator.stopping import ProfiledBlip

pytestmark = pytest.mark.gateway

MakeDevice = Callable[..., VirtualDevice]
NOTES = b'{"line": "compressible text"}\n' * 400
PHOTO = bytes(range(256)) * 16


def test_pulled_blobs_one_at_a_time_compressed_when_compressible(
    make_device: MakeDevice, admin: AdminClient, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = make_device("lou")
    writer.store.put("album", {"owner": "lou", "channels": ["lou"]},
                     {"notes.json": Attachment(NOTES, "application/json"), "photo.png": Attachment(PHOTO, "image/png")})
    assert writer.sync(pull=False, timeout=30).docs_pushed == 1
    admin.wait_for_changes_feed(db)

    fetches: list[dict[str, str]] = []
    outstanding, most_outstanding = set(), 0
    send_request, answered = ProfiledBlip.send_request, ProfiledBlip.answered

    def record(self: ProfiledBlip, properties: Mapping[str, str], body: bytes = b"", **kw: bool) -> int:
        nonlocal most_outstanding
        number = send_request(self, properties, body, **kw)
        if properties.get("Profile") == "getAttachment":
            fetches.append(dict(properties))
            outstanding.add(number)
            most_outstanding = max(most_outstanding, len(outstanding))
        return number

    def reply(self: ProfiledBlip, event: object) -> str:
        outstanding.discard(getattr(event, "number", -1))
        return answered(self, event)  # type: ignore[arg-type]

    monkeypatch.setattr(ProfiledBlip, "send_request", record)
    monkeypatch.setattr(ProfiledBlip, "answered", reply)
    pulled_before = admin.metric("sgw_replication_pull_attachment_pull_count", database=db)
    reader = make_device("lou")
    stats = reader.sync(push=False, timeout=30)
    assert stats.docs_pulled == 1 and stats.attachments_pulled == 2 and stats.errors == 0
    assert reader.store.blobs[attachment_digest(NOTES)] == NOTES
    assert reader.store.blobs[attachment_digest(PHOTO)] == PHOTO
    assert most_outstanding == 1
    assert [(f["digest"], f.get("compress")) for f in fetches] == [
        (attachment_digest(NOTES), "true"), (attachment_digest(PHOTO), None)]
    assert admin.metric("sgw_replication_pull_attachment_pull_count", database=db) == pulled_before + 2
