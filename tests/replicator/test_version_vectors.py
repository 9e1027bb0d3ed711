"""Couchbase Lite 4.1 devices (version vectors, CBMobile_4) against the real Sync Gateway, beside 3.3 devices."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, LocalGateway
from rig.gateway.vectors import stored_vector
from rig.replicator import Attachment, EventKind, ReplicationEvent
from rig.replicator.versions import Version, local_wins

pytestmark = pytest.mark.gateway

# Counters of the gateway's replication work that depend on documents and messages, not on how revisions look.
COUNTERS = ("sgw_replication_push_doc_push_count", "sgw_replication_push_propose_change_count",
            "sgw_replication_pull_rev_send_count", "sgw_replication_pull_num_pull_repl_since_zero",
            "sgw_replication_pull_num_pull_repl_total_one_shot", "sgw_replication_pull_rev_error_count",
            "sgw_replication_pull_norev_send_count", "sgw_replication_push_doc_push_error_count")


def _device(gateway: LocalGateway, db: str, user: str, cbl: str) -> VirtualDevice:
    return VirtualDevice(f"{gateway.public_url}/{db}", Credentials(user, f"{user}-pw"), cbl=cbl)


def _user(admin: AdminClient, db: str, user: str) -> None:
    admin.put_user(db, user, password=f"{user}-pw", admin_channels=[user])


def _with_cv(admin: AdminClient, db: str, doc_id: str) -> dict[str, Any]:
    result: dict[str, Any] = admin._json("GET", f"/{db}/{doc_id}", params={"show_cv": "true"})
    return result


def _stored_cv(admin: AdminClient, db: str, doc_id: str) -> Version:
    """The current version in the document's `_vv` xattr (tombstones too); values there are little-endian CAS hex."""
    vv = admin.raw(db, doc_id)["_xattrs"]["_vv"]
    return Version(int.from_bytes(int(vv["ver"], 16).to_bytes(8, "big"), "little"), vv["src"])


def _content(device: VirtualDevice) -> dict[str, tuple[bool, dict[str, Any]]]:
    """What the app sees: each document's deletion flag and body, whatever form its revisions take
    (attachment stubs without `revpos`, a rev-tree generation 4.x devices neither send nor need)."""
    def body(raw: bytes) -> dict[str, Any]:
        props: dict[str, Any] = json.loads(raw)
        for stub in (props.get("_attachments") or {}).values():
            stub.pop("revpos", None)
        return props
    return {d.doc_id: (d.deleted, body(d.body) if not d.deleted else {}) for d in device.store.docs.values()}


def _blobs(device: VirtualDevice) -> dict[str, bytes]:
    return {f"{d.doc_id}/{name}": device.store.blobs[stub["digest"]]
            for d in device.store.docs.values() if not d.deleted for name, stub in d.attachment_stubs().items()}


def test_a_4_1_device_moves_ten_thousand_documents_as_its_own_versions_counted_as_for_3_3(
    gateway: LocalGateway, admin: AdminClient, db: str
) -> None:
    count = 10_000
    deltas: dict[str, dict[str, float]] = {}
    for cbl in ("3.3", "4.1"):
        user = f"u{cbl.replace('.', '')}"
        _user(admin, db, user)
        writer, reader = _device(gateway, db, user, cbl), _device(gateway, db, user, cbl)
        for i in range(count):
            writer.store.put(f"{user}-{i}", {"owner": user, "channels": [user], "n": i, "text": "x" * 100})
        before = {name: admin.metric(name, database=db) for name in COUNTERS}
        pushed = writer.sync(pull=False, timeout=600)
        assert (pushed.docs_pushed, pushed.errors) == (count, 0)
        admin.wait_for_changes_feed(db)
        pulled = reader.sync(push=False, timeout=600)
        assert (pulled.docs_pulled, pulled.errors) == (count, 0)
        assert _content(reader) == _content(writer)
        deltas[cbl] = {name: admin.metric(name, database=db) - before[name] for name in COUNTERS}

        if cbl == "4.1":
            # The gateway stores the device's versions: the current version's source is the device's database.
            for i in (0, count // 2, count - 1):
                doc_id = f"{user}-{i}"
                cv = Version.parse(_with_cv(admin, db, doc_id)["_cv"])
                assert cv.source == writer.store.source_id
                assert str(cv) == writer.store.get(doc_id).rev  # type: ignore[union-attr]
                assert reader.store.get(doc_id).rev == str(cv)  # type: ignore[union-attr]
                assert _stored_cv(admin, db, doc_id) == cv  # `_raw` shows `_vv`, the same version
    assert deltas["3.3"] == deltas["4.1"]
    assert deltas["4.1"]["sgw_replication_push_doc_push_count"] == count
    assert deltas["4.1"]["sgw_replication_pull_rev_send_count"] == count


def test_3_3_and_4_1_devices_of_one_user_converge_both_ways(gateway: LocalGateway, admin: AdminClient, db: str) -> None:
    _user(admin, db, "ann")
    old, new = _device(gateway, db, "ann", "3.3"), _device(gateway, db, "ann", "4.1")

    def settle() -> None:
        admin.wait_for_changes_feed(db)

    def doc(i: int, by: str) -> dict[str, Any]:
        return {"owner": "ann", "channels": ["ann"], "n": i, "by": by}

    # 3.3 -> 4.1: documents, attachments, updates, deletions.
    for i in range(200):
        photo = {"photo": Attachment(bytes([i]) * (100 + i), "image/jpeg")} if i % 40 == 0 else None
        old.store.put(f"a-{i}", doc(i, "3.3"), photo)
    assert old.sync(timeout=120).docs_pushed == 200
    settle()
    assert new.sync(timeout=120).docs_pulled == 200
    assert _content(new) == _content(old) and _blobs(new) == _blobs(old)

    # 4.1 -> 3.3: edits of the pulled documents, new ones with attachments, deletions.
    for i in range(20):
        new.store.put(f"a-{i}", doc(i, "4.1"))
    for i in range(20, 30):
        new.store.delete(f"a-{i}")
    for i in range(50):
        photo = {"scan": Attachment(b"4.1" * (i + 1), "image/png")} if i % 10 == 0 else None
        new.store.put(f"b-{i}", doc(i, "4.1"), photo)
    events: list[ReplicationEvent] = []
    assert new.sync(timeout=120, observer=events.append).docs_pushed == 80
    assert [e for e in events if e.kind in (EventKind.ERROR, EventKind.CONFLICT, EventKind.REJECTED)] == []
    settle()
    assert old.sync(timeout=120).docs_pulled == 80
    assert _content(old) == _content(new) and _blobs(old) == _blobs(new)
    assert _with_cv(admin, db, "a-3")["by"] == "4.1"
    assert Version.parse(_with_cv(admin, db, "b-7")["_cv"]).source == new.store.source_id

    # And back again: the 3.3 device edits what the 4.1 device wrote.
    for i in range(10):
        old.store.put(f"b-{i}", doc(i, "3.3 again"))
    old.store.delete("a-5")
    assert old.sync(timeout=60).docs_pushed == 11
    settle()
    assert new.sync(timeout=60).docs_pulled == 11
    assert _content(new) == _content(old) and _blobs(new) == _blobs(old)
    assert new.store.pending() == [] and old.store.pending() == []


@pytest.mark.parametrize(("second_edits_later", "second_deletes"), [(True, False), (False, False), (False, True)])
def test_offline_edits_of_two_4_1_devices_end_as_couchbase_lite_ends_them(
    gateway: LocalGateway, admin: AdminClient, db: str, second_edits_later: bool, second_deletes: bool
) -> None:
    _user(admin, db, "bea")
    first, second = _device(gateway, db, "bea", "4.1"), _device(gateway, db, "bea", "4.1")
    first.store.put("shared", {"owner": "bea", "channels": ["bea"], "v": "base"})
    first.sync(timeout=30)
    admin.wait_for_changes_feed(db)
    second.sync(timeout=30)

    def edit_second() -> Any:
        if second_deletes:
            return second.store.delete("shared")
        return second.store.put("shared", {"owner": "bea", "channels": ["bea"], "v": "second"})

    # The edits are 2 ms apart: a hybrid clock ticks every 65.5 us (the low 16 bits count), so two
    # devices' edits within one tick tie, as on real phones; "later" needs a later tick.
    if second_edits_later:
        first_doc = first.store.put("shared", {"owner": "bea", "channels": ["bea"], "v": "first"})
        time.sleep(0.002)
        second_doc = edit_second()
    else:
        second_doc = edit_second()
        time.sleep(0.002)
        first_doc = first.store.put("shared", {"owner": "bea", "channels": ["bea"], "v": "first"})
    # Both offline until now; the first device reaches the gateway first.
    first.sync(timeout=30)
    admin.wait_for_changes_feed(db)
    events: list[ReplicationEvent] = []
    second.sync(timeout=30, observer=events.append)
    assert any(e.kind is EventKind.CONFLICT for e in events)
    admin.wait_for_changes_feed(db)
    first.sync(timeout=30)
    admin.wait_for_changes_feed(db)
    second.sync(timeout=30)

    second_wins = local_wins(second_doc.vector, second_doc.deleted, first_doc.vector, first_doc.deleted)
    assert second_wins is (second_edits_later or second_deletes)
    final_first, final_second = first.store.get("shared"), second.store.get("shared")
    assert final_first is not None and final_second is not None
    assert (final_first.rev, final_first.deleted, json.loads(final_first.body)) == \
        (final_second.rev, final_second.deleted, json.loads(final_second.body))
    assert first.store.pending() == [] and second.store.pending() == []
    if second_deletes:
        assert final_first.deleted
    else:
        assert json.loads(final_first.body)["v"] == ("second" if second_wins else "first")
    # Nothing lost: the resolved revision's vector contains the edit the gateway accepted, and the winner's.
    assert final_first.vector is not None
    assert final_first.vector.dominates(first_doc.vector.current)
    if second_wins:
        assert final_first.vector.dominates(second_doc.vector.current)
    assert str(_stored_cv(admin, db, "shared")) == final_first.rev
    raw_vv = admin.raw(db, "shared")["_xattrs"]["_vv"]
    if second_wins:
        assert raw_vv.get("mv"), raw_vv  # the merge is recorded as such on the gateway
    # The run checks read the gateway as the device does: the stored vector (`pv`/`mv` deltas summed)
    # holds every version of the device's vector, and `_cv` names the device's current version.
    stored = stored_vector(raw_vv)
    vector = final_first.vector
    assert all(stored.get(v.source, -1) >= v.value for v in (vector.current, *vector.merges, *vector.previous))
    if not second_deletes:
        assert admin.current_version(db, "shared") == final_first.rev
