"""Gateways by name: the syntax, its errors naming the bad part, and the settings files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig._errors import ConfigError
from rig.gateway.config import database_config
from rig.gateway.named import (
    ENV_DATABASE_SETTINGS,
    GatewayName,
    load_settings,
    overlay,
    parse_gateway,
    parse_settings,
    unique_labels,
)
from rig.gateway.resolve import RIG_DATABASE


def test_every_kind_parses() -> None:
    assert parse_gateway("a=version:main") == GatewayName("a", "version", "main", text="a=version:main")
    binary = parse_gateway("old=binary:/opt/sg/bin/sync_gateway")
    assert (binary.label, binary.kind, binary.target) == ("old", "binary", "/opt/sg/bin/sync_gateway")
    image = parse_gateway("b=image:localhost/sync-gateway:main-ce")
    assert (image.label, image.kind, image.target) == ("b", "image", "localhost/sync-gateway:main-ce")
    url = parse_gateway("staging=url:http://10.0.0.5:4984, http://10.0.0.5:4985/ ,http://10.0.0.5:4986")
    assert url.urls == ("http://10.0.0.5:4984", "http://10.0.0.5:4985", "http://10.0.0.5:4986")
    assert parse_gateway("s=url:http://h:4984,http://h:4985").urls == ("http://h:4984", "http://h:4985",
                                                                       "http://h:4985")


def test_settings_file_and_default_labels() -> None:
    named = parse_gateway("b=version:main+config:gateway_config/SMALL_CACHE.json")
    assert named.target == "main" and named.config == Path("gateway_config/SMALL_CACHE.json")
    assert parse_gateway("version:main").label == "main"
    assert parse_gateway("image:localhost/sync-gateway:main-ce").label == "sync-gateway-main-ce"
    assert parse_gateway("url:http://127.0.0.1:4984,http://127.0.0.1:4985").label == "127.0.0.1-4984"
    assert parse_gateway("binary:/x/y=z/sync_gateway").target == "/x/y=z/sync_gateway"


@pytest.mark.parametrize(("text", "named_part"), [
    ("", "empty"),
    ("a=verson:main", "unknown kind 'verson' (did you mean 'version'?)"),
    ("a=main", "'main' has no KIND: prefix"),
    ("a=version:", "version: needs a value"),
    ("a=version:9.9.9", "unknown version '9.9.9'"),
    ("a b=version:main", "label 'a b'"),
    ("a=url:http://h:4984", "PUBLIC_URL,ADMIN_URL[,METRICS_URL]"),
    ("a=url:http://h:4984,ftp://h:4985", "the admin URL 'ftp://h:4985'"),
    ("a=url:h:4984,http://h:4985", "the public URL 'h:4984'"),
    ("a=version:main+config:", "+config: needs a settings file"),
    ("a=version:main+config:x.json+config:y.json", "+config: given twice"),
    ("a=version:main+configs.json", "+config:FILE.json"),
])
def test_a_bad_name_says_which_part_is_wrong(text: str, named_part: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_gateway(text)
    assert named_part in str(caught.value)
    assert "--gateway" in str(caught.value)


def test_a_label_used_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="label 'a' used twice"):
        unique_labels([parse_gateway("a=version:main"), parse_gateway("a=image:x")])


def test_settings_sections_are_checked(tmp_path: Path) -> None:
    settings = parse_settings({"_comment": "x", "database": {"delta_sync": {"enabled": True}},
                               "server": {"logging": {}}}, "f.json")
    assert settings.database == {"delta_sync": {"enabled": True}} and settings.server == {"logging": {}}
    with pytest.raises(ConfigError, match="unknown section 'databse' \\(did you mean 'database'\\?\\)"):
        parse_settings({"databse": {}}, "f.json")
    with pytest.raises(ConfigError, match="'server' must be a JSON object"):
        parse_settings({"server": []}, "f.json")
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="invalid JSON at line 1"):
        load_settings(bad)


def test_the_shipped_settings_files_load() -> None:
    root = Path(__file__).resolve().parents[3] / "gateway_config"
    small = load_settings(root / "SMALL_CACHE.json")
    assert small.database["cache"]["rev_cache"]["size"] == 1
    guest = load_settings(root / "GUEST_ENABLED.json")
    assert guest.database["users"]["GUEST"]["disabled"] is False


def test_a_bare_settings_file_name_is_found_in_gateway_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not the project root: SMALL_CACHE.json is not in the current directory
    assert load_settings(Path("SMALL_CACHE.json")).database["cache"]["rev_cache"]["size"] == 1
    named = parse_gateway("b=version:main+config:SMALL_CACHE.json")
    shipped = Path(__file__).resolve().parents[3] / "gateway_config" / "SMALL_CACHE.json"
    assert named.portable_text() == f"b=version:main+config:{shipped}"
    (tmp_path / "SMALL_CACHE.json").write_text('{"database": {"delta_sync": {"enabled": true}}}')
    assert load_settings(Path("SMALL_CACHE.json")).database == {"delta_sync": {"enabled": True}}  # the user's own first
    assert parse_gateway("a=version:main").portable_text() == "a=version:main"
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(Path("NO_SUCH_SETTINGS.json"))


def test_overlay_merges_objects_key_by_key() -> None:
    base = {"a": {"x": 1, "y": 2}, "b": 1}
    assert overlay(base, {"a": {"y": 3}, "c": [1]}) == {"a": {"x": 1, "y": 3}, "b": 1, "c": [1]}
    assert base == {"a": {"x": 1, "y": 2}, "b": 1}


def test_database_settings_from_the_environment_reach_every_database(monkeypatch: pytest.MonkeyPatch) -> None:
    from rig.gateway.config import DatabaseSpec

    plain = database_config(DatabaseSpec("d"), server="rosmar:/?mode=memory")
    assert "cache" not in plain and plain["users"]["GUEST"] == {"disabled": True}
    monkeypatch.setenv(ENV_DATABASE_SETTINGS, json.dumps({"cache": {"rev_cache": {"size": 1}},
                                                          "users": {"GUEST": {"disabled": False}}}))
    laid = database_config(DatabaseSpec("d"), server="rosmar:/?mode=memory")
    assert laid["cache"] == {"rev_cache": {"size": 1}} and laid["users"]["GUEST"] == {"disabled": False}
    monkeypatch.setenv(ENV_DATABASE_SETTINGS, "[1]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        database_config(DatabaseSpec("d"), server="rosmar:/?mode=memory")


def test_only_the_rigs_own_databases_are_removed_from_a_gateway_given_by_url() -> None:
    assert RIG_DATABASE.match("c12_0123abcd") and RIG_DATABASE.match("rc_bench_1a2b3c4d")
    assert RIG_DATABASE.match("rc_run_99aa00ff")
    for theirs in ("rig", "travel-sample", "c1_xyz", "rc-bench", "customers"):
        assert not RIG_DATABASE.match(theirs)
