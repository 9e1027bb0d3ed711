"""Routing specs whose types live in named collections: loading, validation, one function per collection."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig._errors import ConfigError
from rig.oracle import World, load, render
from rig.oracle.render import render_collections

SHOP = Path(__file__).parents[3] / "gateway_config" / "routing" / "shop.toml"
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


def test_the_world_keeps_access_per_collection() -> None:
    world = World(load(SHOP))
    note, order = world.doc_id("shop.notes", "n-bob"), world.doc_id("shop.orders", "o-bob")
    assert (note, world.collection_of(order)) == ("shop.notes/n-bob", "shop.orders")
    bobs_note = world.apply_write(note, "1-a", {"type": "note", "owner": "bob"}, False)
    bobs_order = world.apply_write(order, "1-b", {"type": "order", "owner": "bob"}, False)
    assert bobs_note.channels == {"shop.notes:user.bob"}
    assert bobs_order.channels == {"shop.orders:user.bob", "shop.orders:clerks"}
    assert not world.sees("carol", bobs_note) and not world.sees("carol", bobs_order)
    assert world.sees("ann", bobs_order) and world.why("ann", bobs_order) == "role.clerk.channels"
    world.apply_write(world.doc_id("shop.notes", "s1"), "1-c", {"type": "share", "owner": "bob", "with": "carol"},
                      False)
    assert world.sees("carol", bobs_note)  # the share grants bob's channel in notes...
    assert not world.sees("carol", bobs_order)  # ...and not in orders
    assert world.why("carol", bobs_note) == "share.access (doc shop.notes/s1)"


def test_the_world_refuses_a_type_outside_its_collection() -> None:
    world = World(load(SHOP))
    misplaced = world.decide(world.doc_id("shop.notes", "o1"), "ann", {"type": "order", "owner": "ann"}, False)
    assert (misplaced.accepted, misplaced.rule) == (False, "type")
    placed = world.decide(world.doc_id("shop.orders", "o1"), "ann", {"type": "order", "owner": "ann"}, False)
    assert placed.accepted
    with pytest.raises(ValueError, match="names none of the spec's collections"):
        world.decide("o1", "ann", {"type": "order", "owner": "ann"}, False)
