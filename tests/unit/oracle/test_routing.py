"""The routing spec loader: strict validation naming file and key; template expansion."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig._errors import ConfigError
from rig.conformance import default_spec_path
from rig.oracle import Template, load


def test_reference_spec_loads() -> None:
    spec = load(default_spec_path())
    assert set(spec.types) == {"note", "membership", "promotion", "announcement", "tagged"}
    assert spec.users["ann"].roles == ("lead",)
    assert spec.channels_of({"type": "note", "owner": "ann", "team": "red"}) == {"user.ann", "team.red"}
    assert spec.channels_of({"type": "announcement"}) == {"!"}
    assert spec.channels_of({"type": "nope"}) == frozenset()


@pytest.mark.parametrize(("text", "doc", "expected"), [
    ("team.{team}", {"team": "red"}, ["team.red"]),
    ("team.{team}", {}, []),
    ("team.{team}", {"team": ""}, []),
    ("team.{team}", {"team": 3}, []),
    ("tag.{tags}", {"tags": ["a", "b", "a", 4]}, ["tag.a", "tag.b"]),
    ("{a}-{b}", {"a": ["x", "y"], "b": "z"}, ["x-z", "y-z"]),
    ("leads", {}, ["leads"]),
])
def test_template_expansion(text: str, doc: dict[str, object], expected: list[str]) -> None:
    assert Template(text).expand(doc) == expected


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text('name = "t"\n' + text)
    return path


@pytest.mark.parametrize(("text", "key"), [
    ('[types.note]\nchannels = ["team.{team"]\n', "types.note.channels[0]"),
    ('[types.note]\nchannels = []\n', "types.note.channels"),
    ('[types.note]\nchannels = ["a"]\nwrite = []\n', "types.note.write"),
    ('[types.note]\nchannels = ["a"]\nrequire = [{ user = "{o}", role = "x" }]\n', "types.note.require[0]"),
    ('[types.note]\nchannels = ["a"]\nrequire = [{ owner = "{o}" }]\n', "types.note.require[0].owner"),
    ('[types.note]\nchannels = ["a"]\naccess = [{ to = "{m}" }]\n', "types.note.access[0].channels"),
    ('[types.note]\nchannels = ["a b"]\n', "types.note.channels[0]"),
    ('[users.ann]\nroles = ["ghost"]\n[types.note]\nchannels = ["a"]\n', "users.ann.roles"),
    ('[users.ann]\nchannels = ["team.{x}"]\n[types.note]\nchannels = ["a"]\n', "users.ann.channels[0]"),
    ('[roles.r]\nroles = ["x"]\n[types.note]\nchannels = ["a"]\n', "roles.r.roles"),
    ('colour = "red"\n[types.note]\nchannels = ["a"]\n', "colour"),
    ("", "types"),
])
def test_invalid_specs_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = _spec(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(path) in str(info.value)
    assert f": {key}:" in str(info.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load(bad)
