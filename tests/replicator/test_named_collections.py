"""Devices replicating two named collections in one replication, against the real Sync Gateway.

The database (persistent config, `collections_gateway`) has `shop.orders` (only the owner may write,
channel `orders-<owner>`) and `shop.notes` (channel `notes-<owner>`); the user reads its own
channels in each. Every document must land in the collection it was written to, on the gateway
(admin API `/db.shop.orders/doc`) and on the device (`store.collection("shop.orders")`).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from rig._errors import ReplicationError
from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, CollectionSpec, DatabaseSpec, LocalGateway
from rig.replicator import EventKind, ReplicationEvent

DATA = Path(__file__).parent.parent / "data" / "collections"
TWO = ("shop.orders", "shop.notes")


def access(user: str) -> dict[str, object]:
    return {"password": f"{user}-pw", "collection_access": {"shop": {
        "orders": {"admin_channels": [f"orders-{user}"]}, "notes": {"admin_channels": [f"notes-{user}"]}}}}


@pytest.fixture
def shop(collections_admin: AdminClient) -> str:
    spec = DatabaseSpec(f"shop_{uuid.uuid4().hex[:8]}", users={"ann": access("ann"), "bob": access("bob")},
                        collections=(CollectionSpec("shop.orders", DATA / "orders.js"),
                                     CollectionSpec("shop.notes", DATA / "notes.js")))
    collections_admin.create_database_from_spec(spec)
    return spec.name


def device(gateway: LocalGateway, db: str, user: str, cbl: str) -> VirtualDevice:
    return VirtualDevice(f"{gateway.public_url}/{db}", Credentials(user, f"{user}-pw"), cbl=cbl, collections=TWO)


def test_push_and_pull_keep_each_document_in_its_collection(
        collections_gateway: LocalGateway, collections_admin: AdminClient, shop: str, cbl: str) -> None:
    admin = collections_admin
    ann = device(collections_gateway, shop, "ann", cbl)
    orders, notes = ann.store.collection("shop.orders"), ann.store.collection("shop.notes")
    orders.put("o1", {"owner": "ann", "item": "tea"})
    orders.put("o-forged", {"owner": "bob", "item": "cake"})  # orders' sync function refuses it
    notes.put("n1", {"owner": "ann", "text": "hello"})
    notes.put("same", {"owner": "ann", "in": "notes"})
    orders.put("same", {"owner": "ann", "in": "orders"})
    events: list[ReplicationEvent] = []
    stats = ann.sync(timeout=60, observer=events.append)

    assert stats.docs_pushed == 4 and stats.rejected == 1
    rejected = [(e.doc_id, e.collection) for e in events if e.kind is EventKind.REJECTED]
    assert rejected == [("o-forged", "shop.orders")]
    assert admin.get_document(f"{shop}.shop.orders", "o1")["item"] == "tea"
    assert admin.get_document(f"{shop}.shop.notes", "n1")["text"] == "hello"
    assert admin.get_document(f"{shop}.shop.orders", "same")["in"] == "orders"
    assert admin.get_document(f"{shop}.shop.notes", "same")["in"] == "notes"
    assert admin.doc_channels(f"{shop}.shop.orders", "o1") == {"orders-ann"}
    assert admin.doc_channels(f"{shop}.shop.notes", "n1") == {"notes-ann"}
    for missing, keyspace in (("o1", "notes"), ("n1", "orders"), ("o-forged", "orders")):
        assert admin.all_docs(f"{shop}.shop.{keyspace}", channels=False) != [] and \
            missing not in {row["id"] for row in admin.all_docs(f"{shop}.shop.{keyspace}", channels=False)}

    admin.put_document(f"{shop}.shop.orders", "srv-o", {"owner": "ann", "item": "jam"})
    admin.put_document(f"{shop}.shop.notes", "srv-n", {"owner": "ann", "text": "from the server"})
    admin.put_document(f"{shop}.shop.notes", "srv-bob", {"owner": "bob", "text": "not ann's"})
    phone = device(collections_gateway, shop, "ann", cbl)  # a second device of ann pulls everything
    phone.sync(timeout=60, push=False)
    got_orders = phone.store.collection("shop.orders")
    got_notes = phone.store.collection("shop.notes")
    assert sorted(got_orders.docs) == ["o1", "same", "srv-o"]
    assert sorted(got_notes.docs) == ["n1", "same", "srv-n"]
    assert got_orders.get("same").properties()["in"] == "orders"  # type: ignore[union-attr]
    assert got_notes.get("same").properties()["in"] == "notes"  # type: ignore[union-attr]
    assert phone.store.docs == {}  # nothing in the default collection

    # A second sync of the first device resumes both collections from their checkpoints.
    again = ann.sync(timeout=60)
    assert again.docs_pulled == 2 and again.docs_pushed == 0  # only srv-o and srv-n are new to it


def test_a_collection_the_database_lacks_fails_the_sync(
        collections_gateway: LocalGateway, shop: str, cbl: str) -> None:
    ann = VirtualDevice(f"{collections_gateway.public_url}/{shop}", Credentials("ann", "ann-pw"), cbl=cbl,
                        collections=("shop.orders", "shop.missing"))
    with pytest.raises(ReplicationError, match=r"Collection 'shop\.missing' is not found on the remote server"):
        ann.sync(timeout=30)
