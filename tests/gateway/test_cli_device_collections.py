"""`rig device sync --collection SCOPE.NAME` against the real gateway (persistent config, named collections)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from rig.gateway import AdminClient, CollectionSpec, DatabaseSpec, LocalGateway

pytestmark = pytest.mark.gateway
DATA = Path(__file__).parent.parent / "data" / "collections"


def _sync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rig", "device", "sync", *args], capture_output=True, text=True,
                          timeout=120)


def _summary(stdout: str) -> dict[str, object]:
    summary: dict[str, object] = json.loads(stdout[stdout.rindex("{\n  \"elapsed_s\""):])
    return summary


def test_device_sync_replicates_the_collections_given(collections_gateway: LocalGateway,
                                                      collections_admin: AdminClient) -> None:
    access = {"orders": {"admin_channels": ["orders-cli"]}, "notes": {"admin_channels": ["notes-cli"]}}
    spec = DatabaseSpec(f"cli_{uuid.uuid4().hex[:8]}",
                        users={"cli": {"password": "cli-pw", "collection_access": {"shop": access}}},
                        collections=(CollectionSpec("shop.orders", DATA / "orders.js"),
                                     CollectionSpec("shop.notes", DATA / "notes.js")))
    collections_admin.create_database_from_spec(spec)
    db = spec.name
    url = f"{collections_gateway.public_url}/{db}"
    both = ("--collection", "shop.orders", "--collection", "shop.notes")

    pushed = _sync("--url", url, "--user", "cli", "--password", "cli-pw", "--create", "3", "--push",
                   "--cbl", "4.1", *both)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "collections shop.orders, shop.notes" in pushed.stdout
    assert _summary(pushed.stdout)["docs_pushed"] == 6
    for keyspace in ("shop.orders", "shop.notes"):
        ids = {row["id"] for row in collections_admin.all_docs(f"{db}.{keyspace}", channels=False)}
        assert ids == {f"cli-profile-{i}" for i in range(3)}

    collections_admin.put_document(f"{db}.shop.notes", "srv-n", {"owner": "cli"})
    pulled = _sync("--url", url, "--user", "cli", "--password", "cli-pw", "--pull", "-v", "--cbl", "3.3",
                   "--collection", "shop.notes")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    summary = _summary(pulled.stdout)
    assert summary["docs_pulled"] == 4 and summary["local_documents_by_collection"] == {"shop.notes": 4}
    assert "shop.notes/srv-n" in pulled.stdout

    missing = _sync("--url", url, "--user", "cli", "--password", "cli-pw", "--collection", "shop.nope")
    assert missing.returncode != 0
    assert "Collection 'shop.nope' is not found on the remote server" in missing.stderr
    bad = _sync("--url", url, "--user", "cli", "--password", "cli-pw", "--collection", "orders")
    assert bad.returncode != 0 and "--collection" in bad.stderr and "SCOPE.NAME" in bad.stderr
