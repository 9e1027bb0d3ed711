"""Spec mode with a gateway view: a revision the gateway routes elsewhere than the spec is a `routing` finding."""

from __future__ import annotations

from rig.conformance import default_spec_path
from rig.oracle import DocView, GatewayView, Held, Kind, SyncSnapshot, WriteAttempt, check, load

NOTE = {"type": "note", "owner": "ann", "team": "red"}


def _run(view_channels: frozenset[str], *, deleted: bool = False) -> list[Kind]:
    spec = load(default_spec_path())
    obs = [WriteAttempt("n1", None, True, NOTE, rev="1-n"),
           *([WriteAttempt("n1", None, True, None, True, rev="2-n")] if deleted else []),
           SyncSnapshot("ann-1", "ann", "caught_up", {"n1": Held("2-n" if deleted else "1-n", deleted)},
                        GatewayView({"n1": DocView("2-n" if deleted else "1-n", deleted, view_channels)},
                                    frozenset({"user.ann"})))]
    return [f.kind for f in check(spec, obs)]


def test_the_spec_channels_in_the_gateway_view_pass() -> None:
    assert _run(frozenset({"user.ann", "team.red"})) == []
    assert _run(frozenset({"user.ann", "team.red"}), deleted=True) == []


def test_a_revision_routed_elsewhere_is_a_finding() -> None:
    assert _run(frozenset({"user.ann"})) == [Kind.ROUTING]
    assert _run(frozenset({"user.ann", "team.red", "!"})) == [Kind.ROUTING]


def test_a_tombstone_routed_nowhere_is_a_finding() -> None:
    """A device sees no difference (a removed deleted document is a tombstone); the gateway's view does."""
    assert _run(frozenset(), deleted=True) == [Kind.ROUTING]


def test_a_stale_view_is_not_compared() -> None:
    spec = load(default_spec_path())
    obs = [WriteAttempt("n1", None, True, NOTE, rev="1-n"),
           SyncSnapshot("ann-1", "ann", "caught_up", {"n1": Held("1-n")},
                        GatewayView({"n1": DocView("0-old", False, frozenset())}, frozenset({"user.ann"})))]
    assert check(spec, obs) == []
