"""A database with named collections, each with its own sync function, on the real Sync Gateway."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from rig._errors import AdminApiError, ConfigError, SyncFunctionRefused
from rig.gateway import AdminClient, CollectionSpec, DatabaseSpec, LocalGateway
from rig.gateway.config import database_config


def two_collection_spec(tmp_path: Path) -> DatabaseSpec:
    orders = tmp_path / "orders.js"
    orders.write_text("function (doc) { channel('orders-' + doc.owner); }")
    notes = tmp_path / "notes.js"
    notes.write_text("function (doc) { channel('notes-' + doc.owner); }")
    return DatabaseSpec(f"coll_{uuid.uuid4().hex[:8]}",
                        collections=(CollectionSpec("shop.orders", orders), CollectionSpec("shop.notes", notes)))


def test_each_named_collection_runs_its_own_sync_function(collections_admin: AdminClient, tmp_path: Path) -> None:
    spec = two_collection_spec(tmp_path)
    admin = collections_admin
    admin.create_database_from_spec(spec)
    db = spec.name
    admin.put_document(f"{db}.shop.orders", "o1", {"owner": "ann"})
    admin.put_document(f"{db}.shop.notes", "o1", {"owner": "ann"})
    assert admin.doc_channels(f"{db}.shop.orders", "o1") == {"orders-ann"}
    assert admin.doc_channels(f"{db}.shop.notes", "o1") == {"notes-ann"}
    # The default collection is not part of a database with named collections.
    with pytest.raises(AdminApiError):
        admin.put_document(db, "o1", {"owner": "ann"})


def test_a_collection_sync_function_that_does_not_compile_is_refused_naming_the_file(
        collections_admin: AdminClient, tmp_path: Path) -> None:
    bad = tmp_path / "bad.js"
    bad.write_text("function (doc) { channel(doc.owner ")
    spec = DatabaseSpec(f"coll_{uuid.uuid4().hex[:8]}", collections=(CollectionSpec("shop.orders", bad),))
    with pytest.raises(SyncFunctionRefused, match=r"bad\.js"):
        collections_admin.create_database_from_spec(spec)


def test_a_legacy_config_gateway_refuses_named_collections(admin: AdminClient, tmp_path: Path) -> None:
    with pytest.raises(AdminApiError, match="scopes are not allowed with legacy config"):
        admin.create_database_from_spec(two_collection_spec(tmp_path))


def test_a_persistent_config_gateway_creates_its_databases_at_start(
        sg_binary: Path, tmp_path: Path) -> None:
    spec = two_collection_spec(tmp_path)
    with LocalGateway(sg_binary, tmp_path / "gw", databases=[spec], persistent_config=True) as gateway:
        admin = AdminClient(gateway.admin_url)
        try:
            assert admin.database(spec.name)["state"] == "Online"
            admin.put_document(f"{spec.name}.shop.notes", "n1", {"owner": "bo"})
            assert admin.doc_channels(f"{spec.name}.shop.notes", "n1") == {"notes-bo"}
        finally:
            admin.close()


def test_collection_specs_refuse_what_sync_gateway_cannot_take(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"SCOPE\.NAME"):
        CollectionSpec("orders")
    with pytest.raises(ConfigError, match="named scope"):
        CollectionSpec("_default.orders")
    with pytest.raises(ConfigError, match="one named scope"):
        DatabaseSpec("x", collections=(CollectionSpec("a.one"), CollectionSpec("b.two")))
    with pytest.raises(ConfigError, match="duplicate"):
        DatabaseSpec("x", collections=(CollectionSpec("a.one"), CollectionSpec("a.one")))
    config = database_config(two_collection_spec(tmp_path), server="rosmar:/?mode=memory")
    assert "sync" not in config and config["use_views"] is False
    assert set(config["scopes"]["shop"]["collections"]) == {"orders", "notes"}
