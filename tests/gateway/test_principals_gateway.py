"""`check_principals` on the real gateway: its records against its documents' grants.

The gateway defect it explains (a record keeping a channel after a grant's deletion raced a
recomputation, docs/known-gateway-defects.md) cannot be caused on demand, so the failing inputs
here make the same wrong record by hand: the user's record is edited in the gateway's own storage
(on-disk rosmar, SQLite) while the gateway runs, which is where the race leaves it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from rig._paths import project_root
from rig.gateway import AdminClient
from rig.gateway.config import DatabaseSpec
from rig.gateway.local import LocalGateway
from rig.gateway.principals import check_principals
from rig.oracle.render import render
from rig.oracle.routing import load

pytestmark = pytest.mark.gateway

DB = "drift"


def _edit_record(data_dir: Path, user: str, channels: dict[str, int]) -> None:
    """Set the channels of `user`'s record in the gateway's storage, as a lost invalidation leaves it."""
    with sqlite3.connect(data_dir / DB / "rosmar.sqlite3", timeout=30) as db:
        (value,) = db.execute("SELECT value FROM documents WHERE key = ?", (f"_sync:user:{user}",)).fetchone()
        record = json.loads(value)
        record["all_channels"] = channels
        record.pop("channel_inval_seq", None)
        db.execute("UPDATE documents SET value = ? WHERE key = ?", (json.dumps(record).encode(), f"_sync:user:{user}"))


def test_records_agree_until_one_keeps_a_revoked_channel_or_loses_a_granted_one(sg_binary: Path,
                                                                                 tmp_path: Path) -> None:
    sync = tmp_path / "teams.js"
    sync.write_text(render(load(project_root() / "gateway_config" / "routing" / "teams.toml")))
    data = tmp_path / "data"
    with LocalGateway(sg_binary, tmp_path / "run", data_dir=data,
                      databases=[DatabaseSpec(DB, sync_function=sync)]) as gateway:
        admin = AdminClient(gateway.admin_url, gateway.metrics_url)
        admin.put_role(DB, "lead", admin_channels=["leads"])
        admin.put_user(DB, "ann", password="ann-pw-pw", admin_channels=["user.ann"], admin_roles=["lead"])
        admin.put_user(DB, "bob", password="bob-pw-pw", admin_channels=["user.bob"])
        revs = {doc_id: admin.put_document(DB, doc_id, {"type": "membership", "member": member, "team": team})
                for doc_id, member, team in [("m.ann.red", "ann", "red"), ("m.bob.red", "bob", "red"),
                                             ("m.bob.blue", "bob", "blue")]}
        admin.bulk_docs(DB, [{"_id": "m.bob.blue", "_rev": revs["m.bob.blue"], "_deleted": True}])
        documents = {"_default": ["m.ann.red", "m.bob.blue", "m.bob.red", "m.gone"]}  # m.gone: never written
        assert check_principals(admin, DB, documents, ["ann", "bob", "nobody"]) == []
        assert "team.blue" not in admin.user(DB, "bob")["all_channels"]

        # bob's record keeps team.blue, whose only grant was deleted (what the race leaves).
        _edit_record(data, "bob", {"!": 1, "user.bob": 3, "team.red": 6, "team.blue": 7})
        found = check_principals(admin, DB, documents, ["ann", "bob"])
        assert [(d.user, d.extra, d.missing) for d in found] == [("bob", ("team.blue",), ())]
        assert found[0].text() == "bob holds team.blue, which no document grants"

        # ann's record lacks team.red, which m.ann.red grants.
        _edit_record(data, "ann", {"!": 1, "user.ann": 2})
        found = check_principals(admin, DB, documents, ["ann", "bob"])
        assert [(d.user, d.extra, d.missing) for d in found] == [("ann", (), ("team.red",)),
                                                                 ("bob", ("team.blue",), ())]
        assert found[0].granted_by == {"team.red": ("m.ann.red",)}
