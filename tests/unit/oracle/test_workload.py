"""A load run's workload drawn from the routing spec, and the oracle over a run's merged observation files."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from rig._errors import ConfigError
from rig.conformance import default_spec_path
from rig.oracle import Held, Kind, PrincipalChange, RoutingSpec, SyncSnapshot, WriteAttempt, load, write_jsonl
from rig.oracle.names import user_name
from rig.oracle.observations import read_jsonl
from rig.oracle.run_check import check_run, run_observations, write_findings
from rig.oracle.workload import RoutingWorkload


@pytest.fixture(scope="module")
def spec() -> RoutingSpec:
    return load(default_spec_path())


def test_principals_and_team_grants(spec: RoutingSpec) -> None:
    workload = RoutingWorkload(spec, users=12, team_size=4)
    changes = workload.principals()
    assert {c.name for c in changes if c.op == "role"} == set(spec.roles)
    users = {c.name: c for c in changes if c.op == "user"}
    assert len(users) == 12
    assert users["user-0000"].roles == ("lead",) and users["user-0001"].roles == ()
    assert users["user-0005"].channels == ("user.user-0005",)
    world = workload.seed_world()
    assert "team.1" in world.grants("user-0005") and "team.0" not in world.grants("user-0005")
    # The second user of a team also joins the next one (not past the last team).
    assert {"team.0", "team.1"} <= set(world.grants("user-0001"))
    assert "team.3" not in world.grants("user-0009")
    assert "leads" in world.grants("user-0004")


def test_device_writes_are_accepted_by_the_spec_except_the_deliberate_ones(spec: RoutingSpec) -> None:
    workload = RoutingWorkload(spec, users=20, bad_write_share=0.1)
    world = workload.seed_world()
    rng = random.Random(3)
    outcomes: Counter[tuple[str, bool, bool]] = Counter()
    for n in range(2000):
        user = n % 20
        write = workload.write(user, f"d{user}", rng)
        assert write is not None
        if write.body is None:
            outcomes[("delete", False, True)] += 1
            continue
        decision = world.decide(write.doc_id, user_name(user), write.body, False)
        assert decision.accepted is not write.bad, (write, decision)
        if decision.accepted:
            world.apply_write(write.doc_id, f"{n}-x", write.body, False)
        outcomes[(write.body["type"], write.bad, decision.accepted)] += 1
    kinds = {kind for kind, _, _ in outcomes}
    assert {"note", "tagged", "announcement", "delete"} <= kinds
    assert outcomes[("note", False, True)] > outcomes[("tagged", False, True)]  # shared types come first
    assert sum(n for (_, bad, _), n in outcomes.items() if bad) > 50
    # Announcements only from leads (the first user of each team); the others' are the refused ones.
    assert "membership" not in kinds and "promotion" not in kinds


def test_deliberate_bad_writes_attack_every_rule_updates_and_types_in_turn(spec: RoutingSpec) -> None:
    """Not always the first rule of a fresh document: a note's refusals include a team the writer lacks
    (requireAccess), on create and on update; documents change type; a type the spec lacks is written."""
    workload = RoutingWorkload(spec, users=10, bad_write_share=0.5)
    world = workload.seed_world()
    rng = random.Random(5)
    broken: Counter[tuple[str, bool]] = Counter()
    new_notes: list[str] = []
    for n in range(1000):
        write = workload.write(n % 10, f"d{n % 10}", rng)
        assert write is not None
        if write.body is None:
            continue
        update = world.live_body(write.doc_id) is not None
        decision = world.decide(write.doc_id, user_name(n % 10), write.body, False)
        assert decision.accepted is not write.bad, (write, decision)
        if decision.accepted:
            world.apply_write(write.doc_id, f"{n}-x", write.body, False)
        else:
            assert decision.rule is not None
            broken[(decision.rule, update)] += 1
            if not update and decision.rule.startswith("note."):
                new_notes.append(decision.rule)
    # In turn, not at random: any four refused new notes in a row break both rules (a short run has few).
    assert all(len(set(new_notes[k:k + 4])) == 2 for k in range(len(new_notes) - 3)), new_notes
    for rule in ("note.require_user({owner})", "note.require_access(team.{team})", "tagged.require_user({owner})",
                 "announcement.require_role(lead)", "type"):
        assert broken[(rule, False)] > 5, (rule, broken)
    for rule in ("note.require_access(team.{team})", "tagged.require_user({owner})", "type"):
        assert broken[(rule, True)] > 5, (rule, broken)


def test_foreign_writes_on_seeded_documents_are_refused_by_the_spec_whatever_breaks(spec: RoutingSpec) -> None:
    """Another user's seeded note: updated keeping the owner, taken over (the immutable owner set to the
    writer, who is in the team) and deleted, in turn; the spec refuses each, naming the rule a mutant drops."""
    workload = RoutingWorkload(spec, users=10, foreign_write_share=1.0, stranded_seed_share=0.0)
    world = workload.seed_world()
    seeds = [w for i in range(10) for w in workload.seed_writes(i, 2, random.Random(i))]
    for n, seed in enumerate(seeds):
        assert seed.body is not None
        world.apply_write(seed.doc_id, f"1-s{n}", seed.body, False)
    writer = 3  # team 0: holds team 0's notes (and its own)
    held = {w.doc_id: w.body for w in seeds if w.body is not None and world.sees(
        user_name(writer), world.current[w.doc_id])}
    rules = []
    for _ in range(6):
        write = workload.write(writer, "d6", random.Random(1), held)
        assert write is not None and write.bad and ".seed." in write.doc_id
        assert user_name(writer) not in str(world.live_body(write.doc_id)["owner"])  # another user's
        decision = world.decide(write.doc_id, user_name(writer), write.body, write.body is None)
        assert not decision.accepted
        rules.append((write.body is None, decision.rule))
    assert rules[:3] == [(False, "note.require_user({owner})"), (False, "note.immutable(owner)"),
                         (True, "note.require_user({owner})")], rules
    # Nothing held but the device's own documents: no foreign write.
    own = {w.doc_id: w.body for w in seeds if w.body is not None and user_name(writer) in str(w.body.get("owner"))}
    assert all(not w.bad or ".seed." not in w.doc_id
               for w in (workload.write(writer, "d7", random.Random(k), own) for k in range(20)) if w is not None)


def test_stranded_seeds_are_admin_writes_read_only_through_their_owners_user_channels(spec: RoutingSpec) -> None:
    workload = RoutingWorkload(spec, users=10, stranded_seed_share=1.0)
    world = workload.seed_world()
    stranded = [w for i in range(10) for w in workload.seed_writes(i, 2, random.Random(i))
                if w.body is not None and isinstance(w.body.get("owner"), list)]
    assert len(stranded) >= 15  # all but the user in both teams
    for n, write in enumerate(stranded):
        assert write.body is not None
        assert world.decide(write.doc_id, None, write.body, False).accepted  # the admin may write it
        revision = world.apply_write(write.doc_id, f"1-{n}", write.body, False)
        owners = write.body["owner"]
        assert len(owners) == 2 and revision.channels >= {f"user.{o}" for o in owners}
        for owner in owners:  # neither owner is in the note's team: only user.{owner} lets them see it
            assert f"team.{write.body['team']}" not in world.grants(owner)
            assert world.why(owner, revision) == f"user.{owner}.channels"


def test_guest_grants_one_per_lead_device_half_updated_half_deleted(spec: RoutingSpec) -> None:
    workload = RoutingWorkload(spec, users=10, device_users=(0, 0, 1, 1, 5, 5, 5))
    guests = workload.guests()
    assert sorted(guests) == ["d0", "d1", "d4", "d5", "d6"]  # the leads' devices (users 0 and 5)
    world = workload.seed_world()
    members = [body["member"] for _, body, _ in guests.values()]
    assert len(set(members)) == len(members)
    for doc_id, body, _ in guests.values():  # a guest from another team: the grant gives it something new
        assert f"team.{body['team']}" not in world.grants(body["member"])
        assert world.decide(doc_id, "user-0000" if body["team"] == "0" else "user-0005", body, False).accepted
    changes = dict(workload.guest_changes())
    assert [changes[guests[k][0]] is None for k in ("d0", "d1", "d4", "d5", "d6")] == [False, True, False, True, False]
    # A guest never writes into the team a guest grant gives it (its outcome would race the grant).
    guest = int(guests["d0"][1]["member"].split("-")[1])
    rng = random.Random(2)
    writes = [workload.write(guest, "d9", rng) for _ in range(300)]
    assert not [w for w in writes if w is not None and w.body is not None and w.body.get("team") == "0"]


def test_same_workload_in_every_process(spec: RoutingSpec) -> None:
    first, second = RoutingWorkload(spec, users=10), RoutingWorkload(spec, users=10)
    assert first.grant_docs() == second.grant_docs()
    assert first.seed_writes(3, 4, random.Random(1)) == second.seed_writes(3, 4, random.Random(1))


def _files(tmp_path: Path) -> Path:
    """Two processes' files: the reader's snapshot file sorts before the writer's, but is later in time."""
    write_jsonl(tmp_path / "observations-seed.jsonl", [
        PrincipalChange("user", "ann", ("user.ann",), t=1.0), PrincipalChange("user", "bob", ("user.bob",), t=1.0),
        PrincipalChange("user", "eve", ("user.eve",), t=1.0),
        WriteAttempt("m-ann", None, True, {"type": "membership", "member": "ann", "team": "red"}, rev="1-a", t=2.0),
        WriteAttempt("m-bob", None, True, {"type": "membership", "member": "bob", "team": "red"}, rev="1-b", t=2.0)])
    write_jsonl(tmp_path / "observations-0.jsonl", [
        SyncSnapshot("bob-1", "bob", "caught_up", {"n1": Held("1-n")}, t=5.0, scope="leaks"),
        SyncSnapshot("eve-1", "eve", "caught_up", {"n1": Held("1-n")}, t=5.5, scope="leaks"),
        SyncSnapshot("bob-1", "bob", "caught_up", {"n1": Held("1-n")}, t=9.0),
        SyncSnapshot("eve-1", "eve", "caught_up", {}, t=9.0)])
    write_jsonl(tmp_path / "observations-1.jsonl", [
        WriteAttempt("n1", "ann", True, {"type": "note", "owner": "ann", "team": "red"}, rev="1-n",
                     device="ann-1", t=3.0),
        SyncSnapshot("ann-1", "ann", "caught_up", {"n1": Held("1-n")}, t=9.0)])
    return tmp_path


def test_run_check_merges_files_by_time_and_finds_a_mid_run_leak(tmp_path: Path, spec: RoutingSpec) -> None:
    clean = check_run(spec, _files(tmp_path))
    leaked = [f for f in clean.findings if f.kind is Kind.LEAK]
    assert [(f.doc, f.user, f.device, f.rule) for f in leaked] == [("n1", "eve", "eve-1", "note.channels")]
    assert clean.counts["miss"] == 0 and len(clean.findings) == 1
    assert clean.snapshots_final == 3 and clean.snapshots_mid_run == 2
    assert clean.docs_visible == 2  # bob and ann must hold the note; eve must not
    figures = clean.figures()
    assert figures["oracle_leaks"] == 1 and figures["oracle_misses"] == 0 and figures["oracle_findings"] == 1
    path = write_findings(tmp_path, clean)
    assert '"oracle_leaks"' not in path.read_text() and '"leak": 1' in path.read_text()
    order = [type(o).__name__ for o in run_observations(tmp_path)]
    assert order.index("WriteAttempt") < order.index("SyncSnapshot")


def test_a_mid_run_snapshot_is_checked_for_leaks_only(tmp_path: Path, spec: RoutingSpec) -> None:
    write_jsonl(tmp_path / "observations-0.jsonl", [
        PrincipalChange("user", "bob", ("user.bob",), t=1.0),
        WriteAttempt("m-bob", None, True, {"type": "membership", "member": "bob", "team": "red"}, rev="1-b", t=1.5),
        WriteAttempt("n1", "bob", True, {"type": "note", "owner": "bob", "team": "red"}, rev="1-n", device="b", t=2.0),
        SyncSnapshot("bob-2", "bob", "caught_up", {}, t=3.0, scope="leaks")])
    assert check_run(spec, tmp_path).findings == []  # the same snapshot in full scope would be a miss
    snap = list(read_jsonl(tmp_path / "observations-0.jsonl"))[-1]
    assert isinstance(snap, SyncSnapshot) and snap.scope == "leaks"


def test_no_observations_is_a_clear_error(tmp_path: Path, spec: RoutingSpec) -> None:
    with pytest.raises(ConfigError, match="no observations"):
        check_run(spec, tmp_path)


def test_guest_changes_come_in_rounds_that_change_no_users_access_twice(spec: RoutingSpec) -> None:
    # 20 users, 3 devices each (as tests/load/test_oracle_run.py runs them): leads of different teams pick
    # the same guest, whose grants would otherwise change within one moment (a gateway race loses one).
    workload = RoutingWorkload(spec, users=20, device_users=tuple(i // 3 for i in range(60)))
    guests = workload.guests()
    members = [body["member"] for _, body, _ in guests.values()]
    assert max(members.count(m) for m in members) >= 2  # the case the rounds exist for
    rounds = workload.guest_change_rounds()
    assert len(rounds) >= 2
    flat = [change for r in rounds for change in r]
    assert len(flat) == len(workload.guest_changes()) and dict(flat) == dict(workload.guest_changes())
    by_doc = {doc_id: body["member"] for doc_id, body, _ in guests.values()}
    for changes in rounds:
        changed = [by_doc[doc_id] for doc_id, _ in changes]
        assert len(set(changed)) == len(changed), changes
    assert [c for r in rounds for c in r if c[1] is None]  # revocations are among them
