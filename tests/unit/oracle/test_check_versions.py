"""The oracle judges a version-vector device (Couchbase Lite 4.1) by the versions it really holds.

Writes of rev-tree devices and of the admin are recorded by rev-tree ID (`1-n`), a 4.1 device holds
the gateway's current version (`<hex>@<source>`); the gateway's pairs (`versions` records) say which
version is which revision. An old version is stale, the current one is not, whichever device wrote it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.conformance import default_spec_path
from rig.oracle import (
    Held,
    Kind,
    RevisionNames,
    RoutingSpec,
    SyncSnapshot,
    WriteAttempt,
    check,
    load,
    read_jsonl,
    write_jsonl,
)
from rig.oracle.observations import Observation
from rig.oracle.run_check import check_run

NOTE = {"type": "note", "owner": "ann", "team": "red"}
V1, V2 = "18ef10c1a4ce0000@gatewaySrc", "18ef10c1a5370000@gatewaySrc"
"""The versions the gateway made for the rev-tree writes 1-n and 2-n."""


@pytest.fixture(scope="module")
def spec() -> RoutingSpec:
    return load(default_spec_path())


def _history() -> list[Observation]:
    member = {"type": "membership", "team": "red"}
    return [WriteAttempt("m-ann", None, True, {**member, "member": "ann"}, rev="1-a"),
            WriteAttempt("m-bob", None, True, {**member, "member": "bob"}, rev="1-b"),
            WriteAttempt("m-ann-blue", None, True, {**member, "member": "ann", "team": "blue"}, rev="1-c"),
            WriteAttempt("n1", "ann", True, NOTE, rev="1-n", device="ann-1"),
            WriteAttempt("n1", "ann", True, {**NOTE, "text": "2"}, rev="2-n", device="ann-1")]


def test_current_version_of_a_rev_tree_write_is_not_stale(spec: RoutingSpec) -> None:
    obs = [RevisionNames({"n1": ("2-n", V2)}), *_history(),
           SyncSnapshot("bob-41", "bob", "caught_up", {"n1": Held(V2)})]
    assert check(spec, obs) == []


def test_an_old_version_is_stale(spec: RoutingSpec) -> None:
    obs = [RevisionNames({"n1": ("2-n", V2)}), *_history(),
           SyncSnapshot("bob-41", "bob", "caught_up", {"n1": Held(V1)})]
    findings = check(spec, obs)
    assert [(f.kind, f.doc, f.rev, f.device) for f in findings] == [(Kind.STALE, "n1", V1, "bob-41")]
    assert "current is 2-n" in findings[0].detail


def test_without_the_gateway_pair_a_version_is_never_taken_for_current(spec: RoutingSpec) -> None:
    obs = [*_history(), SyncSnapshot("bob-41", "bob", "caught_up", {"n1": Held(V2)})]
    assert [f.kind for f in check(spec, obs)] == [Kind.STALE]


def test_pair_that_names_another_revision_than_the_spec_current_is_stale(spec: RoutingSpec) -> None:
    """The gateway's current revision is 1-n (it lost 2-n): its version is not the spec's current one."""
    obs = [RevisionNames({"n1": ("1-n", V1)}), *_history(),
           SyncSnapshot("bob-41", "bob", "caught_up", {"n1": Held(V1)})]
    assert [f.kind for f in check(spec, obs)] == [Kind.STALE]


def test_a_4_1_write_held_by_a_rev_tree_device(spec: RoutingSpec) -> None:
    """The 4.1 device's write is recorded by its version; a 3.3 device holds the gateway's rev-tree ID."""
    mine = "18ef10c1a6000000@annPhone"
    obs = [RevisionNames({"n1": ("3-x", mine)}), *_history(),
           WriteAttempt("n1", "ann", True, {**NOTE, "text": "3"}, rev=mine, device="ann-41"),
           SyncSnapshot("bob-33", "bob", "caught_up", {"n1": Held("3-x")}),
           SyncSnapshot("bob-41", "bob", "caught_up", {"n1": Held(mine)})]
    assert check(spec, obs) == []
    stale = [*obs[:-2], SyncSnapshot("bob-33", "bob", "caught_up", {"n1": Held("2-n")})]
    assert [f.kind for f in check(spec, stale)] == [Kind.STALE]


def test_leaks_of_unpaired_versions(spec: RoutingSpec) -> None:
    """Mid-run, a version the run cannot name: a leak only if no revision of the document was ever visible."""
    carol = [*_history(), SyncSnapshot("carol-41", "carol", "caught_up", {"n1": Held(V1)}, scope="leaks")]
    assert [(f.kind, f.rule) for f in check(spec, carol)] == [(Kind.LEAK, "note.channels")]
    moved = [*_history(),
             WriteAttempt("n1", "ann", True, {**NOTE, "team": "blue"}, rev="3-n", device="ann-1"),
             SyncSnapshot("bob-41", "bob", "caught_up", {"n1": Held(V1)}, scope="leaks")]
    assert check(spec, moved) == []  # bob saw n1 in team red before it moved to blue


def test_a_rev_tree_id_of_a_4_1_write_held_mid_run(spec: RoutingSpec) -> None:
    """A 4.1 device's writes are recorded as versions; a 3.3 device holds the rev-tree ID the gateway
    made for one of them (unpaired once newer ones came): a leak only if bob never could see n2."""
    first, moved = "18ef10c1a7000000@annPhone", "18ef10c1a7100000@annPhone"
    writes = [*_history(),
              WriteAttempt("n2", "ann", True, NOTE, rev=first, device="ann-41"),
              WriteAttempt("n2", "ann", True, {**NOTE, "team": "blue"}, rev=moved, device="ann-41")]
    bob = [*writes, SyncSnapshot("bob-33", "bob", "caught_up", {"n2": Held("1-gw")}, scope="leaks")]
    assert check(spec, bob) == []  # bob saw n2 in team red before it moved
    carol = [*writes, SyncSnapshot("carol-33", "carol", "caught_up", {"n2": Held("1-gw")}, scope="leaks")]
    assert [(f.kind, f.doc) for f in check(spec, carol)] == [(Kind.LEAK, "n2")]
    # Among rev-tree IDs alone an unknown one stays strict: n1 moved too, but was only ever written as 1-n, 2-n.
    strict = [*_history(), WriteAttempt("n1", "ann", True, {**NOTE, "team": "blue"}, rev="3-n", device="ann-1"),
              SyncSnapshot("bob-33", "bob", "caught_up", {"n1": Held("9-zz")}, scope="leaks")]
    assert [f.kind for f in check(spec, strict)] == [Kind.LEAK]


def test_a_removal_not_applied_to_a_4_1_device(spec: RoutingSpec) -> None:
    """n1 moves to team blue (bob is not in it): bob's 4.1 device still holds the old, unpaired version."""
    v3 = "18ef10c1a6100000@gatewaySrc"
    moved = [RevisionNames({"n1": ("3-n", v3)}), *_history(),
             WriteAttempt("n1", "ann", True, {**NOTE, "team": "blue"}, rev="3-n", device="ann-1")]
    findings = check(spec, [*moved, SyncSnapshot("bob-41", "bob", "caught_up", {"n1": Held(V2)})])
    assert [(f.kind, f.rule) for f in findings] == [(Kind.REVOCATION_NOT_APPLIED, "note.channels")]
    assert "document left" in findings[0].detail
    # The current version, paired with 3-n (routed to blue only), was never bob's to see.
    findings = check(spec, [*moved, SyncSnapshot("bob-41", "bob", "caught_up", {"n1": Held(v3)})])
    assert [(f.kind, f.rule) for f in findings] == [(Kind.LEAK, "note.channels")]


def test_versions_record_round_trips_and_replays_first(spec: RoutingSpec, tmp_path: Path) -> None:
    """In a run directory the pairs are written last, after the final snapshots; the replay takes them first."""
    write_jsonl(tmp_path / "observations-seed.jsonl", _history())
    write_jsonl(tmp_path / "observations-0.jsonl",
                [SyncSnapshot("bob-41", "bob", "caught_up", {"n1": Held(V2)}, t=5.0)])
    write_jsonl(tmp_path / "observations-versions.jsonl", [RevisionNames({"n1": ("2-n", V2)}, t=9.0)])
    assert list(read_jsonl(tmp_path / "observations-versions.jsonl")) == [RevisionNames({"n1": ("2-n", V2)}, 9.0)]
    assert check_run(spec, tmp_path).findings == []
    (tmp_path / "observations-versions.jsonl").unlink()
    assert [f.kind for f in check_run(spec, tmp_path).findings] == [Kind.STALE]
