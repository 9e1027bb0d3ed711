"""The real Sync Gateway, started by the local controller: users, roles, documents, restarts."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from rig._errors import AdminApiError, GatewayStartError, GatewayUnsupported
from rig.gateway import AdminClient, DatabaseSpec, LocalGateway, PublicClient, UrlGateway

pytestmark = pytest.mark.gateway


def test_user_and_role_channels_route_documents_written_as_the_user(
    gateway: LocalGateway, admin: AdminClient, db: str
) -> None:
    admin.put_role(db, "crew", admin_channels=["crew.a"])
    admin.put_user(db, "alice", password="alice-pw", admin_channels=["alice"], admin_roles=["crew"])
    user = admin.user(db, "alice")
    assert set(user["all_channels"]) == {"!", "alice", "crew.a"}
    assert user["roles"] == ["crew"]

    alice = PublicClient(gateway.public_url, db, username="alice", password="alice-pw")
    alice.put_document("note-1", {"owner": "alice", "channels": ["alice"]})
    alice.put_document("note-2", {"owner": "alice", "channels": ["alice", "crew.a"]})

    assert admin.doc_channels(db, "note-1") == {"alice"}
    assert admin.doc_channels(db, "note-2") == {"alice", "crew.a"}
    rows = {row["id"]: set(row["value"]["channels"]) for row in admin.all_docs(db)}
    assert rows == {"note-1": {"alice"}, "note-2": {"alice", "crew.a"}}


def test_sync_function_rejection_is_a_typed_error_with_status(
    gateway: LocalGateway, admin: AdminClient, db: str
) -> None:
    admin.put_user(db, "bob", password="bob-pw", admin_channels=["bob"])
    bob = PublicClient(gateway.public_url, db, username="bob", password="bob-pw")
    with pytest.raises(AdminApiError) as err:
        bob.put_document("not-mine", {"owner": "alice", "channels": ["bob"]})
    assert err.value.status == 403
    assert err.value.method == "PUT"
    assert "sg wrong user" in err.value.body
    assert f"/{db}/not-mine" in err.value.url


def test_admin_errors_carry_method_url_status_and_body(admin: AdminClient, db: str) -> None:
    with pytest.raises(AdminApiError) as err:
        admin.user(db, "nobody")
    assert (err.value.method, err.value.status) == ("GET", 404)
    assert err.value.url.endswith(f"/{db}/_user/nobody")


def test_session_cookie_authenticates_the_public_api(
    gateway: LocalGateway, admin: AdminClient, db: str
) -> None:
    admin.put_user(db, "carol", password="carol-pw", admin_channels=["carol"])
    session = admin.create_session(db, "carol")
    assert session[0] == "SyncGatewaySession"
    carol = PublicClient(gateway.public_url, db, session=session)
    assert carol.session()["userCtx"]["name"] == "carol"


def test_disabled_user_and_deleted_role(gateway: LocalGateway, admin: AdminClient, db: str) -> None:
    admin.put_role(db, "temp", admin_channels=["t"])
    admin.put_user(db, "dave", password="dave-pw", admin_roles=["temp"], disabled=True)
    assert admin.user(db, "dave")["disabled"] is True
    with pytest.raises(AdminApiError) as err:
        PublicClient(gateway.public_url, db, username="dave", password="dave-pw").session()
    assert err.value.status == 401
    admin.delete_role(db, "temp")
    with pytest.raises(AdminApiError):
        admin.role(db, "temp")


def test_metrics_are_parsed_into_samples(gateway: LocalGateway, admin: AdminClient, db: str) -> None:
    before = admin.metric("sgw_database_num_doc_writes", database=db)
    admin.put_document(db, "m1", {"channels": ["x"]})
    admin.put_document(db, "m2", {"channels": ["x"]})
    assert admin.metric("sgw_database_num_doc_writes", database=db) == before + 2
    samples = admin.metrics()
    assert any(s.name.startswith("sgw_replication_") for s in samples)


def test_on_disk_rosmar_survives_restart_and_stop_leaves_no_process(
    sg_binary: Path, tmp_path: Path
) -> None:
    gw = LocalGateway(sg_binary, tmp_path / "run", data_dir=tmp_path / "data",
                      databases=[DatabaseSpec("disk")])
    gw.start()
    try:
        admin = AdminClient(gw.admin_url, gw.metrics_url)
        admin.put_user("disk", "erin", password="erin-pw", admin_channels=["erin"])
        erin = PublicClient(gw.public_url, "disk", username="erin", password="erin-pw")
        revs = {f"doc-{i}": erin.put_document(f"doc-{i}", {"n": i, "channels": ["erin"]}) for i in range(20)}
        first_pid = gw.pid
        gw.restart()
        assert gw.pid != first_pid
        admin = AdminClient(gw.admin_url, gw.metrics_url)
        for doc_id, rev in revs.items():
            body = admin.get_document("disk", doc_id)
            assert body["_rev"] == rev
        assert admin.doc_channels("disk", "doc-7") == {"erin"}
        assert any(p.name == "disk" for p in (tmp_path / "data").iterdir())
    finally:
        pid = gw.pid
        gw.stop()
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    with pytest.raises(httpx.ConnectError):
        httpx.get(gw.admin_url + "/_ping", timeout=2)


def test_in_memory_data_is_gone_after_restart(sg_binary: Path, tmp_path: Path) -> None:
    with LocalGateway(sg_binary, tmp_path, databases=[DatabaseSpec("mem")]) as gw:
        AdminClient(gw.admin_url).put_document("mem", "ephemeral", {"channels": []})
        gw.restart()
        with pytest.raises(AdminApiError) as err:
            AdminClient(gw.admin_url).get_document("mem", "ephemeral")
        assert err.value.status == 404


def test_failed_start_shows_the_log_tail(sg_binary: Path, tmp_path: Path) -> None:
    gw = LocalGateway(sg_binary, tmp_path, databases=[DatabaseSpec("bad", extra={"no_such_option": 1})])
    with pytest.raises(GatewayStartError) as err:
        gw.start()
    assert "no_such_option" in err.value.log_tail
    assert "no_such_option" in str(err.value)
    assert not gw.is_running()


def test_url_controller_refuses_lifecycle_calls(gateway: LocalGateway) -> None:
    remote = UrlGateway(gateway.public_url, gateway.admin_url)
    remote.wait_ready(timeout=10)
    for call in (remote.start, remote.stop, remote.restart):
        with pytest.raises(GatewayUnsupported, match="given by URL"):
            call()
    assert AdminClient(remote.admin_url).database("rig")["state"] == "Online"
