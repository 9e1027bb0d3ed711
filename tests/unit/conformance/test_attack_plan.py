"""The spec-derived attack cases: template solving, writers who satisfy all rules but one, bait documents."""

from __future__ import annotations

import pytest

from rig.conformance import default_spec_path
from rig.conformance.attacks import Planner, attack_cases, solve
from rig.conformance.mutation import suite_cases
from rig.oracle import World, load
from rig.oracle.routing import RoutingSpec, Template


@pytest.fixture(scope="module")
def teams() -> RoutingSpec:
    return load(default_spec_path())


def test_solve_inverts_single_field_templates() -> None:
    assert solve(Template("team.{team}"), "team.red") == {"team": "red"}
    assert solve(Template("{owner}"), "ann") == {"owner": "ann"}
    assert solve(Template("leads"), "leads") == {}
    assert solve(Template("leads"), "team.red") is None
    assert solve(Template("team.{team}"), "user.ann") is None
    assert solve(Template("team.{team}"), "team.") is None
    assert solve(Template("{a}.{b}"), "x.y") is None


def test_writers_satisfy_every_rule_but_the_attacked_one(teams: RoutingSpec) -> None:
    """By the spec's own decision: the author is accepted, each attacker refused by exactly its rule."""
    plan = Planner(teams)
    note = teams.types["note"]
    for skip in (None, 0, 1):
        body = plan.fill(note, "a")
        writer = "aw" if skip is None else f"ax{skip}"
        needs = plan.writer(note, body, writer, skip=skip, owner="aw")
        assert needs is not None
        world = World(teams)
        world.put_user(writer, tuple(sorted(needs.channels)), tuple(sorted(needs.roles)), False)
        decision = world.decide("d", writer, body, False)
        if skip is None:
            assert decision.accepted
        else:
            assert decision.rule == note.rule(note.require[skip].name)


def test_bait_is_routed_to_the_channel_asked_for(teams: RoutingSpec) -> None:
    plan = Planner(teams)
    bait = plan.bait("team.blue", "x")
    assert bait is not None and teams.channels_of(bait) >= {"team.blue"}
    assert plan.bait("leads", "x") is not None
    assert plan.bait("nowhere.at.all", "x") is None or teams.channels_of(plan.bait("nowhere.at.all", "x")) \
        >= {"nowhere.at.all"}


def test_two_cases_per_type_and_the_hand_written_ones_for_teams(teams: RoutingSpec) -> None:
    names = set(attack_cases(teams))
    assert names == {f"attack_{t}_{k}" for t in teams.types for k in ("writes", "routing")}
    assert {"write_checks", "roles"} <= set(suite_cases(teams))
    assert all(case.__doc__ for case in attack_cases(teams).values())
