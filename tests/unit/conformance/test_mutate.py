"""Mutant generation: every rule of every type gets its mutants, each a valid function differing from the rendering."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from rig.conformance import default_spec_path
from rig.conformance.equivalence import compare, random_writes
from rig.conformance.mutate import OPERATORS, Mutant, generate, select, source
from rig.conformance.mutation import case_order
from rig.oracle import load, render
from rig.oracle.routing import RoutingSpec

NODE = shutil.which("node")

SMALL = """
name = "tiny"
[roles.editor]
channels = ["editors"]
[users.eve]
channels = ["user.eve"]
[types.page]
channels = ["site.{site}", "editors"]
immutable = ["site"]
require = [{ access = "site.{site}" }, { role = "editor" }]
[types.grant]
channels = ["editors"]
require = [{ role = "editor" }]
access = [{ to = "{who}", channels = ["site.{site}"] }]
"""


@pytest.fixture(scope="module")
def teams() -> RoutingSpec:
    return load(default_spec_path())


def test_every_rule_of_teams_has_mutants(teams: RoutingSpec) -> None:
    mutants = generate(teams)
    names = [m.name for m in mutants]
    assert len(names) == len(set(names)), "mutant names are unique"
    by_rule = Counter(m.rule for m in mutants)
    for doc_type in teams.types.values():
        for rule in doc_type.require:
            assert by_rule[doc_type.rule(rule.name)] >= 3, rule.name
        for name in doc_type.immutable:
            assert by_rule[doc_type.rule(f"immutable({name})")] == 2
        channel_targets = {m.target for m in mutants if m.rule == doc_type.rule("channels")}
        assert channel_targets == {t.text for t in doc_type.channels}
        if doc_type.access:
            assert by_rule[doc_type.rule("access")] == 6
        if doc_type.roles:
            assert by_rule[doc_type.rule("roles")] == 6
    assert {m.operator for m in mutants} == set(OPERATORS)
    assert len(mutants) == 81


def test_each_mutant_differs_from_the_rendering_in_its_own_rule_only(teams: RoutingSpec) -> None:
    rendered = render(teams).splitlines()
    for mutant in generate(teams):
        text = source(teams, mutant)
        assert "`" not in text
        assert text.splitlines()[1].startswith(f"// MUTANT {mutant.name}")
        body = text.splitlines()[2:]
        assert body != rendered[1:], mutant.name


def test_a_users_own_spec_gets_mutants_for_each_rule(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(SMALL)
    spec = load(path)
    mutants = generate(spec)
    rules = {m.rule for m in mutants}
    assert {"page.require_access(site.{site})", "page.require_role(editor)", "page.immutable(site)",
            "page.channels", "grant.access", "grant.require_role(editor)", "type", "resurrect"} <= rules
    widen = next(m for m in mutants if m.operator == "grant.widen")
    assert widen.detail == '["editors"]'
    misaddressed = next(m for m in mutants if m.operator == "grant.misaddress")
    assert misaddressed.detail == "{site}"


def test_mutants_round_trip_and_select(teams: RoutingSpec) -> None:
    mutants = generate(teams)
    assert [Mutant.from_json(m.to_json()) for m in mutants] == mutants
    assert {m.operator for m in select(mutants, operators="grant")} == {o for o in OPERATORS if o.startswith("grant.")}
    assert [m.operator for m in select(mutants, operators="channel.drop,type.change")].count("type.change") == 1
    assert len(select(mutants, limit=5)) == 5
    one = select(mutants, one_per_operator=True)
    assert len(one) == len(OPERATORS) and len({m.operator for m in one}) == len(OPERATORS)


def test_cases_aimed_at_the_rule_come_first(teams: RoutingSpec) -> None:
    cases = ["attack_note_routing", "attack_note_writes", "attack_membership_writes", "roles", "write_checks"]
    drop = next(m for m in generate(teams) if m.operator == "require.drop")
    assert case_order(drop, cases, {})[:2] == ["attack_note_writes", "attack_note_routing"]
    channel = next(m for m in generate(teams) if m.operator == "channel.drop")
    assert case_order(channel, cases, {})[0] == "attack_note_routing"
    global_ = next(m for m in generate(teams) if m.operator == "type.change")
    assert set(case_order(global_, cases, {})[:2]) == {"attack_note_writes", "attack_membership_writes"}
    assert case_order(global_, cases, {})[-2:] == ["roles", "write_checks"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_equivalent_mutants_are_told_apart_under_node(teams: RoutingSpec) -> None:
    """Reading an immutable field from oldDoc changes nothing; dropping a rule changes outcomes."""
    mutants = generate(teams)
    verdicts = dict(zip([m.name for m in mutants],
                        compare(render(teams), [source(teams, m) for m in mutants], random_writes(teams, 1000)),
                        strict=True))
    equivalent = sorted(name for name, v in verdicts.items() if v.equivalent)
    assert equivalent == sorted([
        "require.old note.require_user({owner})",          # owner is immutable
        "immutable.absent_ok note.immutable(owner)",       # without an owner requireUser refuses anyway
        "channel.old note.channels[user.{owner}]",         # owner is immutable
        "grant.old membership.access[{member} <- team.{team}]",  # member and team are immutable
    ])
    dropped = verdicts["require.drop note.require_access(team.{team})"]
    assert not dropped.equivalent and dropped.witness is not None
    assert dropped.witness["original"] == {"rejected": True}


def test_random_writes_are_deterministic_and_varied(teams: RoutingSpec) -> None:
    first, again = random_writes(teams, 300, seed=3), random_writes(teams, 300, seed=3)
    assert first == again
    shapes = Counter(("deleted" if "_deleted" in w["doc"] else "live",
                      "create" if w["oldDoc"] is None else "tomb" if "_deleted" in w["oldDoc"] else "update")
                     for w in first)
    assert all(shapes[s] > 10 for s in [("live", "create"), ("live", "update"), ("live", "tomb"),
                                        ("deleted", "update")])
    assert any(w["user"] is None for w in first)
