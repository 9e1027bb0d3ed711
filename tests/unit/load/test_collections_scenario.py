"""Load runs over named collections, without a gateway: scenario keys, the workload's document names,
the push service's per-collection reading rule, a user's channels in a collection."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from rig._collections import keyspace, qualified, split
from rig._errors import ConfigError
from rig._paths import project_root
from rig.gateway.admin import user_channels
from rig.load.scenario import load_scenario
from rig.oracle import load
from rig.oracle.names import user_name
from rig.oracle.workload import RoutingWorkload
from rig.push.service import PushService

SHOP = project_root() / "gateway_config" / "routing" / "shop.toml"


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text('fleet = "demo"\nusers = 4\n' + text)
    return path


def test_a_routing_scenario_takes_its_specs_collections(tmp_path: Path) -> None:
    assert load_scenario(_scenario(tmp_path, '[routing]\nspec = "shop"\n')).collections == ("shop.orders", "shop.notes")
    assert load_scenario(_scenario(tmp_path, '[routing]\nspec = "teams"\n')).collections == ()
    listed = load_scenario(_scenario(tmp_path, 'collections = ["app.a", "app.b"]\n'))
    assert listed.collections == ("app.a", "app.b") and listed.routing is None


@pytest.mark.parametrize(("text", "message"), [
    ('collections = ["app.a"]\n[routing]\nspec = "shop"\n', "takes its spec's collections"),
    ('collections = ["a"]\n', "'a' is not a named collection"),
    ('collections = ["_default.x"]\n', "is not a named collection"),
    ('collections = ["a.x", "b.y"]\n', "one scope"),
    ('collections = ["a.x", "a.x"]\n', "distinct"),
])
def test_bad_collection_lists(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_scenario(_scenario(tmp_path, text))


def test_names() -> None:
    assert qualified("shop.notes", "n1") == "shop.notes/n1" and qualified("_default", "n1") == "n1"
    assert split("shop.notes/n1") == ("shop.notes", "n1") and split("n1") == ("_default", "n1")
    assert keyspace("db", "shop.notes") == "db.shop.notes" and keyspace("db", "_default") == "db"


def test_workload_writes_each_type_into_its_collection_and_the_spec_accepts_the_good_ones() -> None:
    workload = RoutingWorkload(load(SHOP), users=10, lead_roles=("clerk",), bad_write_share=0.3)
    world = workload.seed_world()
    assert all(doc.startswith("shop.notes/share.") for doc, _ in workload.grant_docs())
    rng = random.Random(5)
    seen: set[str] = set()
    bad = 0
    for n in range(600):
        user = n % 10
        write = workload.write(user, f"d{user}", rng)
        assert write is not None
        collection = split(write.doc_id)[0]
        if write.body is None:
            continue
        doc_type = load(SHOP).types.get(write.body["type"])
        if doc_type is not None and not write.bad:
            assert collection == doc_type.collection, write
        seen.add(collection)
        decision = world.decide(write.doc_id, user_name(user), write.body, False)
        assert decision.accepted is not write.bad, (write, decision)
        bad += write.bad
        if decision.accepted:
            world.apply_write(write.doc_id, f"{n}-x", write.body, False)
    assert seen == {"shop.orders", "shop.notes"} and bad > 50


def test_push_service_reads_channels_collection_by_collection() -> None:
    may_read = PushService._may_read
    user = {"shop.notes:user.ann", "shop.orders:clerks"}
    assert may_read(user, {"shop.notes:user.ann"})
    assert not may_read(user, {"shop.orders:user.ann"})  # ann's channel in notes is not hers in orders
    assert may_read(user, {"shop.orders:!"}) and may_read({"shop.orders:*"}, {"shop.orders:user.bob"})
    assert not may_read({"shop.notes:*"}, {"shop.orders:user.bob"})


def test_user_channels_in_a_collection() -> None:
    user = {"all_channels": ["!"], "collection_access": {"shop": {"notes": {"all_channels": ["!", "user.ann"]}}}}
    assert user_channels(user, "shop.notes") == {"!", "user.ann"}
    assert user_channels(user, "shop.orders") == set() and user_channels(user, "_default") == {"!"}
