"""Checkpoints honoured on reconnect, access control obeyed, and the gateway's own metrics agree."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rig.device import VirtualDevice
from rig.gateway import AdminClient, LocalGateway, PublicClient
from rig.replicator import EventKind, ReplicationEvent

pytestmark = pytest.mark.gateway

MakeDevice = Callable[..., VirtualDevice]


def _seed(admin: AdminClient, db: str, ids: range, channel: str, owner: str = "") -> None:
    docs = [{"_id": f"doc-{i}", "channels": [channel], "n": i, **({"owner": owner} if owner else {})}
            for i in ids]
    for start in range(0, len(docs), 250):
        admin.bulk_docs(db, docs[start:start + 250])
    admin.wait_for_changes_feed(db)


def test_reconnect_pulls_only_what_is_new(make_device: MakeDevice, admin: AdminClient, db: str) -> None:
    device = make_device("dan")
    _seed(admin, db, range(500), "dan")
    since_zero = admin.metric("sgw_replication_pull_num_pull_repl_since_zero", database=db)
    first = device.sync(push=False, timeout=60)
    assert first.docs_pulled == 500
    assert first.changes_rows == 500
    assert device.store.checkpoints[device.checkpoint_id]["remote"] != 0

    _seed(admin, db, range(500, 520), "dan")
    rows: list[str] = []
    second = device.sync(push=False, timeout=60,
                         observer=lambda e: rows.append(e.doc_id) if e.kind is EventKind.PULLED else None)
    assert second.changes_rows == 20
    assert second.docs_pulled == 20
    assert sorted(rows) == sorted(f"doc-{i}" for i in range(500, 520))
    assert len(device.store) == 520
    # The gateway saw exactly one replication starting from zero: the first.
    assert admin.metric("sgw_replication_pull_num_pull_repl_since_zero", database=db) == since_zero + 1

    # A fresh install of the app (new local database) starts again from zero.
    reinstalled = VirtualDevice(device.url, device.credentials, cbl=device.cbl)
    assert reinstalled.sync(push=False, timeout=60).docs_pulled == 520


def test_user_without_the_channel_never_receives_its_documents(
    make_device: MakeDevice, admin: AdminClient, db: str
) -> None:
    _seed(admin, db, range(30), "secret")
    _seed(admin, db, range(30, 40), "public-ish")
    outsider = make_device("eve", channels=["public-ish"])
    stats = outsider.sync(push=False, timeout=30)
    assert stats.docs_pulled == 10
    assert set(outsider.store.docs) == {f"doc-{i}" for i in range(30, 40)}


def test_rejected_push_is_proposed_twice_then_recorded_as_rejected_never_as_success(
    make_device: MakeDevice, admin: AdminClient, db: str
) -> None:
    device = make_device("fay")
    device.store.put("mine", {"owner": "fay", "channels": ["fay"]})
    device.store.put("forged", {"owner": "someone-else", "channels": ["fay"]})
    rejected_before = admin.metric("sgw_security_num_docs_rejected", database=db)
    proposed_before = admin.metric("sgw_replication_push_propose_change_count", database=db)
    events: list[ReplicationEvent] = []
    stats = device.sync(pull=False, timeout=30, observer=events.append)
    assert stats.docs_pushed == 1
    assert stats.rejected == 1
    rejected = [e for e in events if e.kind is EventKind.REJECTED]
    assert [(e.doc_id, e.detail) for e in rejected] == [("forged", "403: sg wrong user")]
    assert not any(e.kind is EventKind.PUSHED and e.doc_id == "forged" for e in events)
    assert [d.doc_id for d in device.store.docs.values() if d.pending] == ["forged"]
    # As Couchbase Lite: the refused write is proposed and sent once more after the rest, so the
    # gateway runs the sync function on it twice (3 proposed rows: mine, forged, forged again).
    assert admin.metric("sgw_security_num_docs_rejected", database=db) == rejected_before + 2
    assert admin.metric("sgw_replication_push_propose_change_count", database=db) == proposed_before + 3
    # Not pushed again by the next replication, as Couchbase Lite marks it rejected.
    assert device.sync(pull=False, timeout=30).rejected == 0
    assert admin.metric("sgw_security_num_docs_rejected", database=db) == rejected_before + 2


def test_revoking_a_channel_purges_its_documents_on_the_next_pull(
    make_device: MakeDevice, admin: AdminClient, db: str
) -> None:
    device = make_device("gus", channels=["gus", "team"])
    _seed(admin, db, range(10), "team")
    _seed(admin, db, range(10, 15), "gus")
    assert device.sync(push=False, timeout=30).docs_pulled == 15
    admin.put_user(db, "gus", admin_channels=["gus"])
    admin.wait_for_changes_feed(db)
    events: list[ReplicationEvent] = []
    stats = device.sync(push=False, timeout=30, observer=events.append)
    assert stats.purged == 10
    assert {e.doc_id for e in events if e.kind is EventKind.PURGED} == {f"doc-{i}" for i in range(10)}
    assert set(device.store.docs) == {f"doc-{i}" for i in range(10, 15)}


def test_gateway_metrics_count_the_devices_as_blip_replications(
    make_device: MakeDevice, admin: AdminClient, gateway: LocalGateway, db: str
) -> None:
    def metric(name: str) -> float:
        return admin.metric(name, database=db)

    before = {name: metric(name) for name in (
        "sgw_replication_push_doc_push_count", "sgw_replication_pull_rev_send_count")}
    writer, reader = make_device("hal"), make_device("hal")
    for i in range(40):
        writer.store.put(f"m-{i}", {"owner": "hal", "channels": ["hal"]})
    connections = metric("sgw_database_num_replications_total")
    writer.sync(pull=False, timeout=30)
    # Each BLIP connection is one replication for the gateway (so is a REST _changes call).
    assert metric("sgw_database_num_replications_total") == connections + 1
    admin.wait_for_changes_feed(db)
    connections = metric("sgw_database_num_replications_total")
    one_shot_pulls = metric("sgw_replication_pull_num_pull_repl_total_one_shot")
    reader.sync(push=False, timeout=30)
    assert metric("sgw_database_num_replications_total") == connections + 1
    assert metric("sgw_replication_push_doc_push_count") == before["sgw_replication_push_doc_push_count"] + 40
    assert metric("sgw_replication_pull_rev_send_count") == before["sgw_replication_pull_rev_send_count"] + 40
    assert metric("sgw_replication_pull_num_pull_repl_total_one_shot") == one_shot_pulls + 1
    assert PublicClient(gateway.public_url, db, username="hal", password="hal-pw").get_document("m-3")["owner"] \
        == "hal"
