"""A routing spec over two named collections, its functions rendered per collection, on the real gateway.

This checks the rendering and the spec's collection semantics (channels per collection, `access()`
grants held in the granting collection only, write rules, a type in the wrong collection
refused) against Sync Gateway, and that 4.1 devices hold what the spec says per collection. The
oracle and the conformance harness do not know collections yet (docs/clients.md).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from rig._errors import AdminApiError
from rig.conformance.harness import Harness
from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, CollectionSpec, DatabaseSpec, LocalGateway, PublicClient
from rig.oracle import RoutingSpec, load
from rig.oracle.check import Kind
from rig.oracle.render import render_collections

pytestmark = pytest.mark.gateway
SHOP = Path(__file__).parents[2] / "gateway_config" / "routing" / "shop.toml"


def database_for(spec: RoutingSpec, name: str, sync_dir: Path) -> DatabaseSpec:
    collections = []
    for collection, source in render_collections(spec).items():
        path = sync_dir / f"{collection}.js"
        path.write_text(source)
        collections.append(CollectionSpec(collection, path))
    users = {u.name: {"password": f"{u.name}-pw", "admin_roles": list(u.roles), **spec.channel_fields(u)}
             for u in spec.users.values()}
    roles: dict[str, dict[str, Any]] = {r.name: spec.channel_fields(r) for r in spec.roles.values()}
    return DatabaseSpec(name, users=users, roles=roles, collections=tuple(collections))


def collection_channels(admin: AdminClient, db: str, user: str, collection: str) -> set[str]:
    scope, name = collection.split(".")
    access = admin.user(db, user)["collection_access"][scope][name]
    return {c.split(":", 1)[-1] for c in access.get("all_channels", [])}


def test_a_two_collection_spec_routes_grants_and_refuses_per_collection(
        collections_gateway: LocalGateway, collections_admin: AdminClient, tmp_path: Path) -> None:
    spec = load(SHOP)
    db = f"shop_{uuid.uuid4().hex[:8]}"
    collections_admin.create_database_from_spec(database_for(spec, db, tmp_path))
    admin = collections_admin
    docs = {
        ("shop.orders", "o-ann"): {"type": "order", "owner": "ann", "item": "tea"},
        ("shop.orders", "o-bob"): {"type": "order", "owner": "bob", "item": "jam"},
        ("shop.notes", "n-bob"): {"type": "note", "owner": "bob", "text": "hi"},
        ("shop.notes", "n-carol"): {"type": "note", "owner": "carol", "text": "secret"},
        ("shop.notes", "share-bob-ann"): {"type": "share", "owner": "bob", "with": "ann"},
    }
    for (collection, doc_id), body in docs.items():
        admin.put_document(f"{db}.{collection}", doc_id, body)
        assert admin.doc_channels(f"{db}.{collection}", doc_id) == set(spec.channels_of(body))

    # bob's share grants ann bob's channel in notes, not in orders (access is per collection).
    assert "user.bob" in collection_channels(admin, db, "ann", "shop.notes")
    assert "user.bob" not in collection_channels(admin, db, "ann", "shop.orders")
    assert "clerks" in collection_channels(admin, db, "ann", "shop.orders")  # the role's static channel

    # Write rules as the spec says: the owner only, and a type only in its collection.
    ann_orders = PublicClient(collections_gateway.public_url, f"{db}.shop.orders", username="ann", password="ann-pw")
    ann_notes = PublicClient(collections_gateway.public_url, f"{db}.shop.notes", username="ann", password="ann-pw")
    try:
        ann_orders.put_document("o-ann-2", {"type": "order", "owner": "ann"})
        with pytest.raises(AdminApiError) as forged:
            ann_orders.put_document("o-forged", {"type": "order", "owner": "bob"})
        assert forged.value.status == 403
        with pytest.raises(AdminApiError) as misplaced:
            ann_notes.put_document("o-in-notes", {"type": "order", "owner": "ann"})
        assert misplaced.value.status == 403 and "type" in misplaced.value.body
    finally:
        ann_orders.close()
        ann_notes.close()

    # A 4.1 device of ann holds, per collection, what ann's channels there reach.
    phone = VirtualDevice(f"{collections_gateway.public_url}/{db}", Credentials("ann", "ann-pw"), cbl="4.1",
                          collections=("shop.orders", "shop.notes"))
    phone.sync(timeout=60)
    assert sorted(phone.store.collection("shop.orders").docs) == ["o-ann", "o-ann-2", "o-bob"]  # clerks
    assert sorted(phone.store.collection("shop.notes").docs) == ["n-bob", "share-bob-ann"]  # the share


def harness_db(admin: AdminClient, spec: RoutingSpec, sync_dir: Path, notes_function: str | None = None) -> str:
    """A database for `spec` without principals (the harness makes them); `notes_function` replaces notes'."""
    name = f"shop_{uuid.uuid4().hex[:8]}"
    database = database_for(spec, name, sync_dir)
    if notes_function is not None:
        (sync_dir / "shop.notes.js").write_text(notes_function)
    admin.create_database_from_spec(DatabaseSpec(name, collections=database.collections))
    return name


def run_shop_case(harness: Harness) -> None:
    """The same history for every function: writes by REST and by device push in both collections."""
    harness.create_principals()
    assert harness.write("o-ann", {"type": "order", "owner": "ann"}, user="ann", collection="shop.orders")
    harness.write("n-bob", {"type": "note", "owner": "bob", "text": "hi"}, user="bob", collection="shop.notes")
    harness.write("n-forged", {"type": "note", "owner": "bob"}, user="ann", collection="shop.notes")
    harness.write("o-in-notes", {"type": "order", "owner": "ann"}, user="ann", collection="shop.notes")
    harness.write("s1", {"type": "share", "owner": "bob", "with": "carol"}, user="bob", collection="shop.notes")
    ann = harness.device("ann")
    ann.store.collection("shop.orders").put("o-ann-2", {"type": "order", "owner": "ann"})
    ann.store.collection("shop.notes").put("n-ann", {"type": "note", "owner": "ann"})
    harness.sync(ann)
    for user in ("bob", "carol"):
        harness.sync(harness.device(user))


def test_the_harness_judges_a_two_collection_spec_per_collection(
        collections_gateway: LocalGateway, collections_admin: AdminClient, tmp_path: Path) -> None:
    spec = load(SHOP)
    db = harness_db(collections_admin, spec, tmp_path)
    harness = Harness(collections_admin, collections_gateway.public_url, db, spec)
    run_shop_case(harness)
    assert harness.findings() == []
    assert harness.expected_rejections() == ["note.require_user({owner})", "type"]
    assert harness.expected("carol") == {"shop.notes/n-bob", "shop.notes/s1"}  # the share, in notes only
    assert harness.expected("bob") == {"shop.notes/n-bob", "shop.notes/s1"}  # bob is no clerk: no order
    assert {"shop.orders/o-ann", "shop.orders/o-ann-2", "shop.notes/n-ann"} <= harness.expected("ann")
    carol = harness.devices["carol-1"]
    assert sorted(carol.store.collection("shop.notes").docs) == ["n-bob", "s1"]


def test_the_harness_catches_a_collection_function_that_leaks_and_accepts_forged_writes(
        collections_gateway: LocalGateway, collections_admin: AdminClient, tmp_path: Path) -> None:
    spec = load(SHOP)
    broken = "function (doc, oldDoc) { channel('!'); }"  # notes: public, no write rule, any type
    db = harness_db(collections_admin, spec, tmp_path, notes_function=broken)
    harness = Harness(collections_admin, collections_gateway.public_url, db, spec)
    run_shop_case(harness)
    kinds = {(f.kind, f.doc) for f in harness.findings()}
    assert (Kind.WRITE_ACCEPTED, "shop.notes/n-forged") in kinds
    assert (Kind.WRITE_ACCEPTED, "shop.notes/o-in-notes") in kinds
    assert (Kind.LEAK, "shop.notes/n-ann") in kinds  # carol holds ann's note
    assert not any(f.doc.startswith("shop.orders/") for f in harness.findings())  # orders' function is right
