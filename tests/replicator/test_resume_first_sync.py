"""Issue 13 items 2 and 3 against the real Sync Gateway, for every Couchbase Lite release:
resuming between two checkpoints that differ, and a first sync that pulls no tombstones."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, DatabaseSpec, GatewayController

pytestmark = pytest.mark.gateway

MakeDevice = Callable[..., VirtualDevice]
SINCE_ZERO = "sgw_replication_pull_num_pull_repl_since_zero"


def _seed(admin: AdminClient, db: str, ids: range, channel: str) -> None:
    admin.bulk_docs(db, [{"_id": f"doc-{i}", "channels": [channel], "n": i} for i in ids])
    admin.wait_for_changes_feed(db)


def test_a_device_one_save_behind_the_gateway_resumes_from_its_own_copy_not_zero(
    make_device: MakeDevice, admin: AdminClient, db: str
) -> None:
    device = make_device("ida")
    _seed(admin, db, range(100), "ida")
    assert device.sync(push=False, timeout=60).docs_pulled == 100
    behind = dict(device.store.checkpoints[device.checkpoint_id])
    _seed(admin, db, range(100, 120), "ida")
    assert device.sync(push=False, timeout=60).docs_pulled == 20
    # The gateway holds the newer checkpoint; the device's copy is the one before, as when the
    # reply to a setCheckpoint is lost to a budget kill (the gateway saved, the device never knew).
    assert device.store.checkpoints[device.checkpoint_id]["remote"] != behind["remote"]
    device.store.checkpoints[device.checkpoint_id] = behind
    since_zero = admin.metric(SINCE_ZERO, database=db)

    _seed(admin, db, range(120, 130), "ida")
    third = device.sync(push=False, timeout=60)
    # From the earlier of the two checkpoints (the device's): the 20 it holds are announced
    # again and answered "have it", the 10 new ones pulled; not the whole feed from 0.
    assert third.changes_rows == 30
    assert third.docs_pulled == 10
    assert admin.metric(SINCE_ZERO, database=db) == since_zero
    assert len(device.store) == 130


# Sync Gateway's own default routing, tombstones included (the rig's default.js routes a deletion
# nowhere, which makes it a removal that a feed from 0 never shows, with or without activeOnly).
_KEEP_TOMBSTONES = "function (doc, oldDoc) { channel(doc.channels); }\n"


def test_a_first_sync_into_an_empty_database_pulls_no_tombstones(
    admin: AdminClient, gateway: GatewayController, cbl: str, tmp_path: Path
) -> None:
    sync = tmp_path / "keep_tombstones.js"
    sync.write_text(_KEEP_TOMBSTONES)
    db = f"tomb_{uuid.uuid4().hex[:8]}"
    admin.create_database_from_spec(DatabaseSpec(db, sync_function=sync))
    admin.put_user(db, "jo", password="jo-pw", admin_channels=["jo"])
    _seed(admin, db, range(5), "jo")
    revs = {row["id"]: row["rev"] for row in admin.bulk_docs(db, [{"_id": "gone", "channels": ["jo"]}])}
    admin.bulk_docs(db, [{"_id": "gone", "_rev": revs["gone"], "_deleted": True, "channels": ["jo"]}])
    admin.wait_for_changes_feed(db)

    def device() -> VirtualDevice:
        return VirtualDevice(f"{gateway.public_url}/{db}", Credentials("jo", "jo-pw"), cbl=cbl)

    fresh = device()
    stats = fresh.sync(push=False, timeout=60)
    assert (stats.changes_rows, stats.docs_pulled) == (5, 5)
    assert "gone" not in fresh.store.docs

    # A database that already holds something (here a local edit) asks for everything: the tombstone too.
    used = device()
    used.store.put("mine", {"channels": ["jo"]})
    stats = used.sync(push=False, timeout=60)
    assert (stats.changes_rows, stats.docs_pulled) == (6, 6)
    gone = used.store.get("gone")
    assert gone is not None and gone.deleted
