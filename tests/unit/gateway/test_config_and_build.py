"""Config rendering and release pins, without running anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig._errors import ConfigError
from rig._paths import project_root
from rig.gateway.build import DEFAULT_VERSION, RELEASES, binary_path, release
from rig.gateway.config import DatabaseSpec, Interfaces, render, storage_url

IFACES = Interfaces("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")


def test_render_is_legacy_rosmar_on_loopback(tmp_path: Path) -> None:
    config = render([DatabaseSpec("a", users={"u": {"password": "pw1"}})], IFACES, data_dir=None,
                    sync_dir=tmp_path)
    assert config["disable_persistent_config"] is True
    assert config["admin_interface_authentication"] is False
    assert (config["interface"], config["adminInterface"]) == ("127.0.0.1:1", "127.0.0.1:2")
    db = config["databases"]["a"]
    assert db["server"] == "rosmar:/?mode=memory"
    assert db["enable_shared_bucket_access"] is True
    assert db["users"]["GUEST"] == {"disabled": True}
    assert db["users"]["u"] == {"password": "pw1"}
    sync_file = Path(db["sync"])
    assert sync_file.parent == tmp_path
    assert "channel(doc.channels)" in sync_file.read_text()
    assert "_comment" not in json.dumps(config)


def test_on_disk_storage_url_is_absolute(tmp_path: Path) -> None:
    assert storage_url(tmp_path / "d") == f"rosmar://{(tmp_path / 'd').resolve()}"
    assert storage_url(tmp_path).startswith("rosmar:///")


def test_duplicate_database_names_rejected() -> None:
    with pytest.raises(ConfigError, match="duplicate"):
        render([DatabaseSpec("a"), DatabaseSpec("a")], IFACES, data_dir=None)


def test_missing_sync_function_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.js"):
        render([DatabaseSpec("a", sync_function=tmp_path / "nope.js")], IFACES, data_dir=None)


def test_invalid_template_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "gateway.json").write_text('{"a": 1,\n "b": }')
    with pytest.raises(ConfigError, match=r"gateway\.json: invalid JSON at line 2"):
        render([DatabaseSpec("a")], IFACES, data_dir=None, config_root=tmp_path)


def test_every_release_has_a_wrapper_module_repeating_the_websocket_replace() -> None:
    for name, rel in RELEASES.items():
        go_mod = (project_root() / "gateway_build" / name / "go.mod").read_text()
        assert f"github.com/couchbase/sync_gateway {rel.pseudo_version}" in go_mod
        assert rel.pseudo_version.endswith(rel.commit[:12])
        assert "replace github.com/coder/websocket => github.com/couchbasedeps/websocket" in go_mod
    assert DEFAULT_VERSION in RELEASES
    assert (project_root() / "gateway_build" / DEFAULT_VERSION / "go.sum").is_file()


def test_builds_are_cached_per_version() -> None:
    paths = {binary_path(name) for name in RELEASES}
    assert len(paths) == len(RELEASES)
    with pytest.raises(ConfigError, match="known"):
        release("9.9.9")
