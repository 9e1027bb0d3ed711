"""Routing specs whose types live in named collections: loading, validation, one function per collection."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig._errors import ConfigError
from rig.oracle import load, render
from rig.oracle.render import render_collections

SHOP = Path(__file__).parents[2] / "data" / "collections" / "shop.toml"
BASE = 'name = "x"\n[users.ann]\nchannels = ["a"]\n'


def test_a_spec_places_each_type_in_its_collection() -> None:
    spec = load(SHOP)
    assert spec.collections == ("shop.orders", "shop.notes")
    assert set(spec.types_in("shop.notes")) == {"note", "share"}
    assert spec.channel_fields(spec.users["ann"]) == {"collection_access": {"shop": {
        "orders": {"admin_channels": ["user.ann"]}, "notes": {"admin_channels": ["user.ann"]}}}}


def test_each_collection_gets_a_function_that_knows_only_its_types() -> None:
    spec = load(SHOP)
    functions = render_collections(spec)
    assert set(functions) == {"shop.orders", "shop.notes"}
    assert 'type === "order"' in functions["shop.orders"] and 'type === "note"' not in functions["shop.orders"]
    assert 'type === "share"' in functions["shop.notes"] and 'type === "order"' not in functions["shop.notes"]
    assert "collection shop.notes" in functions["shop.notes"]
    with pytest.raises(ValueError, match="render each"):
        render(spec)


def test_a_spec_without_collections_renders_as_before() -> None:
    spec = load(Path(__file__).parents[3] / "gateway_config" / "routing" / "teams.toml")
    assert spec.collections == ("_default",)
    assert render_collections(spec) == {"_default": render(spec)}
    assert spec.channel_fields(spec.users["ann"]) == {"admin_channels": ["user.ann"]}


@pytest.mark.parametrize(("types", "key", "message"), [
    ('[types.a]\ncollection = "orders"\nchannels = ["x"]\n', "types.a.collection", "SCOPE.NAME"),
    ('[types.a]\ncollection = "_default.orders"\nchannels = ["x"]\n', "types.a.collection", "named scope"),
    ('[types.a]\ncollection = "s.one"\nchannels = ["x"]\n[types.b]\ncollection = "t.two"\nchannels = ["x"]\n',
     "types", "one named scope"),
    ('[types.a]\ncollection = "s.one"\nchannels = ["x"]\n[types.b]\nchannels = ["x"]\n',
     "types.b.collection", "cannot sit beside named ones"),
])
def test_collections_sync_gateway_cannot_hold_are_refused_naming_the_key(
        tmp_path: Path, types: str, key: str, message: str) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(BASE + types)
    with pytest.raises(ConfigError, match=rf"spec\.toml: {key.replace('.', '[.]')}: .*{message}"):
        load(path)
