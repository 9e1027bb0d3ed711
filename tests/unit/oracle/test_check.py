"""The oracle over synthetic observations: each kind of finding, and none for a faithful history."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig._errors import ConfigError
from rig.conformance import default_spec_path
from rig.oracle import (
    Checker,
    DocView,
    GatewayView,
    Held,
    Kind,
    PrincipalChange,
    RoutingSpec,
    SyncSnapshot,
    World,
    WriteAttempt,
    check,
    load,
    read_jsonl,
    write_jsonl,
)
from rig.oracle.observations import Observation

NOTE = {"type": "note", "owner": "ann", "team": "red"}


@pytest.fixture(scope="module")
def spec() -> RoutingSpec:
    return load(default_spec_path())


def _membership(doc: str, member: str, team: str, rev: str) -> WriteAttempt:
    return WriteAttempt(doc, None, True, {"type": "membership", "member": member, "team": team}, rev=rev)


def _history() -> list[Observation]:
    return [
        _membership("m-ann", "ann", "red", "1-a"),
        _membership("m-bob", "bob", "red", "1-b"),
        WriteAttempt("n1", "ann", True, NOTE, rev="1-n", device="ann-1"),
    ]


def test_faithful_history_has_no_findings(spec: RoutingSpec) -> None:
    obs = [*_history(), SyncSnapshot("bob-1", "bob", "caught_up", {"n1": Held("1-n")}),
           SyncSnapshot("carol-1", "carol", "caught_up", {})]
    assert check(spec, obs) == []


def test_miss_stale_and_leak(spec: RoutingSpec) -> None:
    obs = [*_history(),
           SyncSnapshot("bob-1", "bob", "caught_up", {}),
           SyncSnapshot("carol-1", "carol", "caught_up", {"n1": Held("1-n")}),
           WriteAttempt("n1", "ann", True, {**NOTE, "text": "2"}, rev="2-n", device="ann-1"),
           SyncSnapshot("bob-2", "bob", "caught_up", {"n1": Held("1-n")})]
    found = {(f.kind, f.device, f.doc, f.rev) for f in check(spec, obs)}
    assert found == {(Kind.MISS, "bob-1", "n1", "1-n"), (Kind.LEAK, "carol-1", "n1", "1-n"),
                     (Kind.STALE, "bob-2", "n1", "1-n")}
    miss = next(f for f in check(spec, obs) if f.kind is Kind.MISS)
    assert miss.user == "bob"
    assert miss.rule == "note.channels via membership.access"
    assert miss.detail.endswith("(via doc m-bob)")


def test_revocation_not_applied_names_the_lost_grant(spec: RoutingSpec) -> None:
    obs = [*_history(), SyncSnapshot("bob-1", "bob", "caught_up", {"n1": Held("1-n")}),
           WriteAttempt("m-bob", None, True, None, deleted=True, rev="2-b"),
           SyncSnapshot("bob-1", "bob", "caught_up", {"n1": Held("1-n")})]
    [finding] = check(spec, obs)
    assert finding.kind is Kind.REVOCATION_NOT_APPLIED
    assert finding.rule == "membership.access" and finding.detail == "user lost access (via doc m-bob)"
    # A tombstone of a membership goes to the old revision's channels and grants nothing.
    world = World(spec)
    for o in obs:
        if isinstance(o, WriteAttempt):
            world.apply_write(o.doc, o.rev or "", o.body, o.deleted)
    assert world.current["m-bob"].channels == {"leads"}
    assert "team.red" not in world.grants("bob")


def test_document_leaving_a_channel_is_a_removal(spec: RoutingSpec) -> None:
    obs = [*_history(), _membership("m-ann-b", "ann", "blue", "1-c"),
           WriteAttempt("n1", "ann", True, {**NOTE, "team": "blue"}, rev="2-n", device="ann-1"),
           SyncSnapshot("bob-1", "bob", "caught_up", {"n1": Held("1-n")})]
    [finding] = check(spec, obs)
    assert (finding.kind, finding.rule) == (Kind.REVOCATION_NOT_APPLIED, "note.channels")


def test_role_lost_then_regained_over_time(spec: RoutingSpec) -> None:
    world = World(spec)
    world.apply_write("n", "1-x", {"type": "note", "owner": "ann", "team": "audit"}, False)
    world.put_user("carol", ("user.carol",), ("auditor",), False)
    assert world.sees("carol", world.current["n"])
    world.put_role("auditor", ("team.blue",))
    assert not world.sees("carol", world.current["n"])
    assert world.ever_visible("carol", "n", "1-x") is not None
    assert world.ever_visible("dave", "n", "1-x") is None
    world.put_user("carol", ("user.carol",), ("auditor",), True)
    assert world.grants("carol") == {}


def test_write_decisions(spec: RoutingSpec) -> None:
    world = World(spec)
    world.apply_write("m", "1-m", {"type": "membership", "member": "bob", "team": "blue"}, False)
    decide = world.decide
    assert decide("n", "bob", {"type": "note", "owner": "bob", "team": "blue"}, False).accepted
    assert decide("n", "bob", {"type": "note", "owner": "bob", "team": "red"}, False).rule \
        == "note.require_access(team.{team})"
    assert decide("n", "bob", {"type": "note", "owner": "ann", "team": "blue"}, False).rule \
        == "note.require_user({owner})"
    assert decide("n", "bob", {"type": "note", "owner": "bob"}, False).rule == "note.require_access(team.{team})"
    assert decide("n", None, {"type": "note", "owner": "x", "team": "y"}, False).accepted
    assert decide("n", None, {"type": "spam"}, False).rule == "type"
    assert decide("p", "bob", {"type": "promotion", "member": "bob", "role": "lead"}, False).rule \
        == "promotion.require_role(lead)"
    assert decide("p", "ann", {"type": "promotion", "member": "bob", "role": "lead"}, False).accepted
    assert not decide("x", "root", {"type": "note", "owner": "root", "team": "blue"}, False).accepted
    world.apply_write("n", "1-n", {"type": "note", "owner": "bob", "team": "blue"}, False)
    assert decide("n", "bob", {"type": "note", "owner": "ann", "team": "blue"}, False).rule \
        == "note.immutable(owner)"
    assert decide("n", "ann", None, True).rule == "note.require_user({owner})"
    assert decide("n", "bob", None, True).accepted


def test_write_findings(spec: RoutingSpec) -> None:
    obs = [WriteAttempt("n", "bob", True, {"type": "note", "owner": "bob", "team": "red"}, rev="1-n",
                        device="bob-1"),
           WriteAttempt("a", None, False, {"type": "announcement"}, status=403, detail="forbidden"),
           WriteAttempt("c", None, False, {"type": "announcement"}, status=409, detail="conflict")]
    findings = check(spec, obs)
    assert [(f.kind, f.rule, f.user) for f in findings] == [
        (Kind.WRITE_ACCEPTED, "note.require_access(team.{team})", "bob"),
        (Kind.WRITE_REJECTED, "announcement.admin_write", "(admin)")]


def test_own_unreadable_write_is_not_a_leak(spec: RoutingSpec) -> None:
    # root may write nothing, but an admin-allowed own write into another's channel stays on the device.
    obs = [_membership("m", "bob", "red", "1-m"),
           WriteAttempt("n", "bob", True, {"type": "note", "owner": "bob", "team": "red"}, rev="1-n", device="b1"),
           PrincipalChange("user", "bob", ("user.bob",)),  # static channels replaced: still sees via user.bob
           SyncSnapshot("b1", "bob", "caught_up", {"n": Held("1-n"), "local": Held("1-l", pending=True)}),
           SyncSnapshot("b2", "carol", "caught_up", {"n": Held("1-n")})]
    assert [(f.kind, f.device) for f in check(spec, obs)] == [(Kind.LEAK, "b2")]


def test_authentication_outcomes(spec: RoutingSpec) -> None:
    obs = [SyncSnapshot("b", "bob", "auth_rejected"),
           PrincipalChange("user", "bob", ("user.bob",), disabled=True),
           SyncSnapshot("b", "bob", "caught_up"),
           PrincipalChange("delete_user", "bob"),
           SyncSnapshot("b", "bob", "auth_rejected")]
    assert [(f.kind, f.rule) for f in check(spec, obs)] == [(Kind.SYNC_REFUSED, "user.active"),
                                                          (Kind.SYNC_ALLOWED, "user.disabled")]


def test_against_the_gateway_view() -> None:
    view = GatewayView({"a": DocView("1-a", False, frozenset({"x"})), "b": DocView("2-b", False, frozenset({"y"}))},
                       frozenset({"!", "x"}))
    later = GatewayView({"a": DocView("1-a", False, frozenset({"z"}))}, frozenset({"!", "x"}))
    obs = [SyncSnapshot("d", "u", "caught_up", {"b": Held("2-b")}, view),
           SyncSnapshot("d", "u", "caught_up", {"a": Held("1-a")}, later)]
    # First: a is visible but missing, b was never visible; then a left x and was shown before: removal.
    assert [(f.kind, f.doc) for f in check(None, obs)] == [(Kind.MISS, "a"), (Kind.LEAK, "b"),
                                                          (Kind.REVOCATION_NOT_APPLIED, "a")]
    fresh = [SyncSnapshot("e", "u", "caught_up", {"a": Held("1-a")}, later)]
    assert [(f.kind, f.rule) for f in check(None, fresh)] == [(Kind.LEAK, "gateway.channels")]


def test_jsonl_round_trip_and_errors(tmp_path: Path) -> None:
    view = GatewayView({"a": DocView("1-a", True, frozenset({"x"}))}, frozenset({"x"}))
    obs: list[Observation] = [PrincipalChange("role", "r", ("x",), t=1.5), *_history(),
                              WriteAttempt("n", "bob", False, {"k": [1]}, status=403, detail="no", device="d"),
                              SyncSnapshot("d", "bob", "caught_up", {"a": Held("1-a", True, False)}, view)]
    path = tmp_path / "obs.jsonl"
    write_jsonl(path, obs)
    assert list(read_jsonl(path)) == obs
    path.write_text('{"kind":"write","doc":"x"}\n')
    with pytest.raises(ConfigError, match=r"obs.jsonl:1: accepted: missing"):
        list(read_jsonl(path))
    path.write_text('\n{"kind":"sync","device":"d","user":"u","outcome":"maybe"}\n')
    with pytest.raises(ConfigError, match=r"obs.jsonl:2: outcome"):
        list(read_jsonl(path))


def test_checker_streams(spec: RoutingSpec) -> None:
    checker = Checker(spec)
    assert checker.feed(_history()[0]) == []
    assert [f.kind for f in checker.feed(SyncSnapshot("c", "carol", "caught_up", {"m-ann": Held("1-a")}))] \
        == [Kind.LEAK]
