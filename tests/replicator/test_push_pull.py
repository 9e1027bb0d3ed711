"""Two devices of one user replicate through the real Sync Gateway as Couchbase Lite does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest

from rig.device import VirtualDevice
from rig.gateway import AdminClient, LocalGateway, PublicClient
from rig.replicator import Attachment, EventKind, ReplicationEvent
from rig.replicator.revisions import local_wins
from rig.replicator.store import Document
from rig.replicator.versions import local_wins as vector_local_wins

pytestmark = pytest.mark.gateway

MakeDevice = Callable[..., VirtualDevice]


def _state(device: VirtualDevice, doc_id: str) -> tuple[str, bool, object]:
    doc = device.store.get(doc_id)
    assert doc is not None
    return doc.rev, doc.deleted, json.loads(doc.body)


def _resolver_keeps_local(local: Document, remote: Document) -> bool:
    """Couchbase Lite's default resolver for the device's database: rev trees (3.x) or version vectors (4.x)."""
    if local.vector is not None and remote.vector is not None:
        return vector_local_wins(local.vector, local.deleted, remote.vector, remote.deleted)
    return local_wins(local.rev, local.deleted, remote.rev, remote.deleted)


def server_version(admin: AdminClient, db: str, doc_id: str, device: VirtualDevice) -> str:
    """The gateway's current revision in the device's terms: `_cv` for version vectors, else `_rev`."""
    if device.release.uses_version_vectors:
        return str(admin._json("GET", f"/{db}/{doc_id}", params={"show_cv": "true"})["_cv"])
    return str(admin.get_document(db, doc_id)["_rev"])


def _body(raw: bytes) -> dict[str, object]:
    """A document's properties; attachment stubs without `revpos` (a generation 4.x devices do not send)."""
    props: dict[str, object] = json.loads(raw)
    stubs = props.get("_attachments")
    if isinstance(stubs, dict):
        for stub in stubs.values():
            stub.pop("revpos", None)
    return props


def _snapshot(device: VirtualDevice) -> dict[str, tuple[str, bool, dict[str, object]]]:
    return {d.doc_id: (d.rev, d.deleted, _body(d.body)) for d in device.store.docs.values()}


def _blobs(device: VirtualDevice) -> dict[str, bytes]:
    return {f"{d.doc_id}/{name}": device.store.blobs[stub["digest"]]
            for d in device.store.docs.values() for name, stub in d.attachment_stubs().items()}


def test_thousand_documents_with_attachments_updates_and_deletions_flow_both_ways(
    make_device: MakeDevice, admin: AdminClient, db: str
) -> None:
    def settle() -> None:
        admin.wait_for_changes_feed(db)

    phone, tablet = make_device("ann"), make_device("ann")
    for i in range(1000):
        photo = {"photo": Attachment(bytes([i % 256]) * (200 + i), "image/jpeg")} if i % 50 == 0 else None
        phone.store.put(f"profile-{i}", {"owner": "ann", "channels": ["ann"], "n": i, "bio": "x" * 500},
                        photo)
    pushed = phone.sync(pull=False, timeout=120)
    assert pushed.docs_pushed == 1000
    assert pushed.errors == 0
    assert phone.store.pending() == []
    settle()

    pulled = tablet.sync(push=False, timeout=120)
    assert pulled.docs_pulled == 1000
    assert pulled.attachments_pulled == 20
    assert _snapshot(tablet) == _snapshot(phone)
    assert _blobs(tablet) == _blobs(phone)
    assert len(_blobs(tablet)) == 20

    # Updates and deletions made on the tablet reach the phone, and the other way round.
    for i in range(10):
        tablet.store.put(f"profile-{i}", {"owner": "ann", "channels": ["ann"], "n": i, "edited": "tablet"})
    for i in range(10, 15):
        tablet.store.delete(f"profile-{i}")
    assert tablet.sync(timeout=60).docs_pushed == 15
    settle()
    assert phone.sync(timeout=60).docs_pulled == 15
    phone.store.put("profile-20", {"owner": "ann", "channels": ["ann"], "edited": "phone"})
    phone.store.delete("profile-21")
    phone.sync(timeout=60)
    settle()
    tablet.sync(timeout=60)
    assert _snapshot(tablet) == _snapshot(phone)
    assert phone.store.get("profile-12").deleted  # type: ignore[union-attr]
    assert admin.get_document(db, "profile-3")["edited"] == "tablet"


@pytest.mark.parametrize("tablet_deletes", [False, True])
def test_concurrent_edits_end_as_couchbase_lite_ends_them(
    make_device: MakeDevice, admin: AdminClient, db: str, tablet_deletes: bool
) -> None:
    def settle() -> None:
        admin.wait_for_changes_feed(db)

    phone, tablet = make_device("bea"), make_device("bea")
    phone.store.put("shared", {"owner": "bea", "channels": ["bea"], "v": "base"})
    phone.sync(timeout=30)
    settle()
    tablet.sync(timeout=30)
    phone_doc = phone.store.put("shared", {"owner": "bea", "channels": ["bea"], "v": "phone"})
    if tablet_deletes:
        tablet_doc = tablet.store.delete("shared")
    else:
        tablet_doc = tablet.store.put("shared", {"owner": "bea", "channels": ["bea"], "v": "tablet"})
    phone.sync(timeout=30)  # the phone's edit reaches the gateway first
    settle()

    events: list[ReplicationEvent] = []
    tablet.sync(timeout=30, observer=events.append)
    assert any(e.kind is EventKind.CONFLICT for e in events)
    settle()
    phone.sync(timeout=30)
    settle()
    tablet.sync(timeout=30)

    assert _state(phone, "shared") == _state(tablet, "shared")
    final_phone = phone.store.get("shared")
    assert final_phone is not None
    tablet_wins = _resolver_keeps_local(tablet_doc, phone_doc)  # the tablet resolves: its edit is the local one
    if tablet_deletes:
        assert final_phone.deleted  # a deletion always wins
    else:
        expected = "tablet" if tablet_wins else "phone"
        assert json.loads(final_phone.body)["v"] == expected


def test_a_push_whose_reply_was_lost_is_no_conflict(make_device: MakeDevice, admin: AdminClient, db: str) -> None:
    """The gateway stored our revision but the connection dropped before its reply: the device still
    thinks the server holds the older revision. The next proposal gets a 409 naming our own revision;
    as Couchbase Lite does, the device takes it as the remote ancestor and pushes again."""
    phone = make_device("cal")
    first = phone.store.put("note", {"owner": "cal", "channels": ["cal"], "v": 1}).rev
    phone.sync(pull=False, timeout=30)
    second = phone.store.put("note", {"owner": "cal", "channels": ["cal"], "v": 2}).rev
    phone.sync(pull=False, timeout=30)
    doc = phone.store.get("note")
    assert doc is not None and doc.remote_rev == second
    doc.remote_rev = first  # the reply to the push of `second` never arrived
    third = phone.store.put("note", {"owner": "cal", "channels": ["cal"], "v": 3}).rev

    events: list[ReplicationEvent] = []
    result = phone.sync(timeout=30, observer=events.append)

    assert [e for e in events if e.kind is EventKind.CONFLICT] == []
    assert result.docs_pushed == 1
    assert [r["id"] for r in admin.all_docs(db)] == ["note"]
    assert server_version(admin, db, "note", phone) == third
    assert phone.store.pending() == []


def test_continuous_pull_delivers_within_a_second(
    make_device: MakeDevice, gateway: LocalGateway, db: str
) -> None:
    device = make_device("cai")
    arrived: dict[str, float] = {}
    stop = threading.Event()
    caught_up = threading.Event()

    def observe(event: ReplicationEvent) -> None:
        if event.kind is EventKind.CAUGHT_UP:
            caught_up.set()
        if event.kind is EventKind.PULLED:
            arrived[event.doc_id] = time.monotonic()

    failures: list[BaseException] = []

    def run() -> None:
        try:
            device.sync(continuous=True, push=False, stop=stop, observer=observe, timeout=60)
        except BaseException as exc:
            failures.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    try:
        assert caught_up.wait(10)
        writer = PublicClient(gateway.public_url, db, username="cai", password="cai-pw")
        latencies = []
        for i in range(5):
            written = time.monotonic()
            writer.put_document(f"live-{i}", {"owner": "cai", "channels": ["cai"]})
            deadline = written + 5
            while f"live-{i}" not in arrived and time.monotonic() < deadline:
                time.sleep(0.005)
            latencies.append(arrived[f"live-{i}"] - written)
        assert max(latencies) < 1.0, latencies
    finally:
        stop.set()
        runner.join(15)
    assert not runner.is_alive()
    assert failures == []
