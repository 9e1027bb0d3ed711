"""The conformance cases: scripted histories over the `teams` routing spec (gateway_config/routing/teams.toml).

A case drives a :class:`Harness` (principals, writes, device syncs) and never
judges the gateway itself: the findings of the oracle do. What a case asserts
is that the spec's own expectation is what the case claims to exercise (e.g.
that bob *should* lose the red notes), so a case cannot pass vacuously.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rig.conformance.harness import Harness


class CaseError(AssertionError):
    """The case does not exercise what it claims (its own expectation is wrong)."""


def note(owner: str, team: str, text: str = "") -> dict[str, Any]:
    return {"type": "note", "owner": owner, "team": team, "text": text}


def membership(member: str, team: str) -> dict[str, Any]:
    return {"type": "membership", "member": member, "team": team}


def promotion(member: str, role: str) -> dict[str, Any]:
    return {"type": "promotion", "member": member, "role": role}


def announcement(text: str) -> dict[str, Any]:
    return {"type": "announcement", "text": text}


def tagged(owner: str, tags: list[str]) -> dict[str, Any]:
    return {"type": "tagged", "owner": owner, "tags": tags}


def expect(h: Harness, user: str, *, has: Iterable[str] = (), lacks: Iterable[str] = ()) -> None:
    seen = h.expected(user)
    missing = sorted(set(has) - seen)
    extra = sorted(set(lacks) & seen)
    if missing or extra:
        raise CaseError(f"case expectation: {user} should see {missing} and not {extra} by the spec")


def case_public_channel(h: Harness) -> None:
    """An announcement in "!" reaches every user, also one created after it; a note does not."""
    lead = h.device("ann")
    lead.store.put("a-1", announcement("hello"))
    lead.store.put("n-ann", note("ann", "red"))
    h.write("m-ann-red", membership("ann", "red"))
    h.sync(lead)
    h.put_user("erin")
    for user in ("bob", "carol", "erin"):
        h.sync(h.device(user))
        expect(h, user, has={"a-1"}, lacks={"n-ann"})


def case_user_channels(h: Harness) -> None:
    """Each owner sees their own notes (user.{owner}); nobody else without the team."""
    for owner in ("ann", "bob", "carol"):
        for i in range(3):
            h.write(f"n-{owner}-{i}", note(owner, f"t-{owner}"))
    for user in ("ann", "bob", "carol", "dave"):
        h.sync(h.device(user))
    expect(h, "bob", has={"n-bob-0", "n-bob-2"}, lacks={"n-ann-0", "n-carol-1"})
    expect(h, "dave", lacks={"n-bob-0"})


def case_roles(h: Harness) -> None:
    """A role's channels reach its members; when the role loses a channel, members lose its documents."""
    h.write("n-audit", note("ann", "audit"))
    h.write("n-blue", note("ann", "blue"))
    h.put_user("carol", ["user.carol"], ["auditor"])
    carol = h.device("carol")
    h.sync(carol)
    expect(h, "carol", has={"n-audit"}, lacks={"n-blue"})
    h.put_role("auditor", ["team.blue"])
    h.sync(carol)
    expect(h, "carol", has={"n-blue"}, lacks={"n-audit"})


def case_document_grants_backfill(h: Harness) -> None:
    """Notes written before a membership grant reach the member after it (backfill), and a role() grant works."""
    for i in range(5):
        h.write(f"n-green-{i}", note("ann", "green"))
    h.write("n-audit", note("ann", "audit"))
    dave = h.device("dave")
    h.sync(dave)
    expect(h, "dave", lacks={"n-green-0", "n-audit"})
    lead = h.device("ann")
    lead.store.put("m-dave-green", membership("dave", "green"))
    lead.store.put("p-dave-auditor", promotion("dave", "auditor"))
    h.sync(lead)
    h.sync(dave)
    expect(h, "dave", has={f"n-green-{i}" for i in range(5)} | {"n-audit"})


def case_revocation_while_asleep(h: Harness) -> None:
    """The membership goes while bob's device sleeps; its next sync purges the team's notes."""
    h.write("m-ann-red", membership("ann", "red"))
    h.write("m-bob-red", membership("bob", "red"))
    ann = h.device("ann")
    for i in range(4):
        ann.store.put(f"n-red-{i}", note("ann", "red"))
    h.sync(ann)
    bob = h.device("bob")
    h.sync(bob)
    expect(h, "bob", has={"n-red-0", "n-red-3"})
    h.delete("m-bob-red", user="ann")
    ann.store.put("n-red-late", note("ann", "red", "written while bob sleeps"))
    h.push(ann)
    h.sync(bob)
    expect(h, "bob", lacks={"n-red-0", "n-red-3", "n-red-late"})


def case_role_removal(h: Harness) -> None:
    """Leaving a role (admin_roles, or a deleted promotion document) purges the role's documents."""
    h.write("n-audit", note("ann", "audit"))
    h.put_user("carol", ["user.carol"], ["auditor"])
    h.write("p-dave", promotion("dave", "auditor"), user="ann")
    carol, dave = h.device("carol"), h.device("dave")
    h.sync(carol)
    h.sync(dave)
    expect(h, "carol", has={"n-audit"})
    expect(h, "dave", has={"n-audit"})
    h.put_user("carol", ["user.carol"], [])
    h.delete("p-dave")
    h.sync(carol)
    h.sync(dave)
    expect(h, "carol", lacks={"n-audit"})
    expect(h, "dave", lacks={"n-audit"})


def case_document_leaves_channel(h: Harness) -> None:
    """A note moved from team red to team blue leaves red members' devices and reaches blue members."""
    for member, team in (("ann", "red"), ("ann", "blue"), ("bob", "red"), ("carol", "blue")):
        h.write(f"m-{member}-{team}", membership(member, team))
    ann = h.device("ann")
    ann.store.put("n-move", note("ann", "red"))
    ann.store.put("n-stay", note("ann", "red"))
    h.sync(ann)
    bob, carol = h.device("bob"), h.device("carol")
    h.sync(bob)
    h.sync(carol)
    expect(h, "bob", has={"n-move"})
    ann.store.put("n-move", note("ann", "blue", "moved"))
    h.sync(ann)
    h.sync(bob)
    h.sync(carol)
    expect(h, "bob", has={"n-stay"}, lacks={"n-move"})
    expect(h, "carol", has={"n-move"})


def case_deletions_and_tombstones(h: Harness) -> None:
    """A deleted note reaches its readers as a tombstone (never left live); a forged deletion is refused."""
    h.write("m-ann-red", membership("ann", "red"))
    h.write("m-bob-red", membership("bob", "red"))
    ann, bob = h.device("ann"), h.device("bob")
    for i in range(3):
        ann.store.put(f"n-{i}", note("ann", "red"))
    h.sync(ann)
    h.sync(bob)
    ann.store.delete("n-0")
    h.sync(ann)
    h.delete("n-1", user="ann")
    h.delete("n-2", user="bob")
    h.sync(bob)
    world = h.world
    if not (world.current["n-0"].deleted and world.current["n-1"].deleted and not world.current["n-2"].deleted):
        raise CaseError("case expectation: n-0 and n-1 deleted, n-2 (bob's forged deletion) alive")
    expect(h, "bob", has={"n-0", "n-1", "n-2"})


def case_write_checks(h: Harness) -> None:
    """requireUser, requireAccess, requireRole and immutable fields, by device push and by REST."""
    h.write("m-bob-blue", membership("bob", "blue"))
    h.write("n-ann", note("ann", "blue"))
    bob = h.device("bob")
    bob.store.put("ok", note("bob", "blue"))
    bob.store.put("no-team", note("bob", "red"))
    bob.store.put("forged-owner", note("ann", "blue"))
    bob.store.put("no-role", membership("bob", "red"))
    bob.store.put("no-role-ann", announcement("from bob"))
    bob.store.put("bad-type", {"type": "spam"})
    h.sync(bob)
    h.write("n-ann", {**note("bob", "blue"), "text": "stolen"}, user="bob")
    h.write("p-bob", promotion("bob", "lead"), user="bob")
    h.write("n-bob-rest", note("bob", "blue"), user="bob")
    rules = h.expected_rejections()
    wanted = {"note.require_access(team.{team})", "note.require_user({owner})", "membership.require_role(lead)",
              "announcement.require_role(lead)", "type", "note.immutable(owner)", "promotion.require_role(lead)"}
    if not wanted <= set(rules):
        raise CaseError(f"case expectation: rejections {sorted(wanted - set(rules))} not exercised")


def case_star_channel(h: Harness) -> None:
    """root holds "*": sees every document, keeps a moved one, yet requireAccess refuses it."""
    h.write("m-ann-red", membership("ann", "red"))
    h.write("n-red", note("ann", "red"))
    h.write("a-1", announcement("hi"))
    h.write("t-1", tagged("bob", ["x", "y"]))
    root = h.device("root")
    h.sync(root)
    expect(h, "root", has={"m-ann-red", "n-red", "a-1", "t-1"})
    h.write("n-red", {**note("ann", "red"), "text": "edited"})
    root.store.put("n-root", note("root", "red"))
    h.sync(root)
    if "note.require_access(team.{team})" not in h.expected_rejections():
        raise CaseError("case expectation: root's note should be refused by requireAccess")


def case_admin_writes(h: Harness) -> None:
    """Admin writes skip require* (no user context) but are routed like any other; an unknown type is refused."""
    h.write("n-bob-red", note("bob", "red"))
    h.write("m-x", membership("carol", "green"))
    h.write("a-admin", announcement("from admin"))
    h.write("bad", {"type": "spam"})
    for user in ("bob", "carol", "dave"):
        h.sync(h.device(user))
    expect(h, "bob", has={"n-bob-red", "a-admin"})
    expect(h, "dave", lacks={"n-bob-red"})
    if h.expected_rejections() != ["type"]:
        raise CaseError(f"case expectation: only the unknown type refused, got {h.expected_rejections()}")


def case_user_disabled_and_deleted(h: Harness) -> None:
    """A disabled user cannot replicate, an enabled one can again, a deleted one cannot."""
    h.write("n-bob", note("bob", "x"))
    bob = h.device("bob")
    h.sync(bob)
    h.put_user("bob", ["user.bob"], disabled=True)
    h.sync(bob)
    h.put_user("bob", ["user.bob"])
    h.write("n-bob-2", note("bob", "x"))
    h.sync(bob)
    h.delete_user("bob")
    h.sync(bob)
    if h.world.active("bob"):
        raise CaseError("case expectation: bob deleted")


def case_anonymous_client(h: Harness) -> None:
    """A client without credentials gets nothing, not even an announcement: the spec names no guest."""
    h.write("m-ann-red", membership("ann", "red"))
    h.write("n-red", note("ann", "red"))
    h.write("a-1", announcement("hi"))
    h.anonymous_sync()
    expect(h, "GUEST", lacks={"m-ann-red", "n-red", "a-1"})
    expect(h, "ann", has={"n-red", "a-1"})


def case_many_channels(h: Harness) -> None:
    """A user with 40 static tag channels and 15 granted teams sees exactly the matching documents."""
    h.put_user("mia", [f"tag.t{i}" for i in range(40)])
    docs = [{"_id": f"tg-{i}", **tagged("bob", [f"t{i}", f"t{(i * 7) % 100}", f"t{(i * 13) % 100}"])}
            for i in range(100)]
    for doc in docs:
        h.write(str(doc["_id"]), {k: v for k, v in doc.items() if k != "_id"})
    for k in range(15):
        h.write(f"m-mia-{k}", membership("mia", f"k{k}"))
    for k in range(30):
        h.write(f"n-k{k}", note("ann", f"k{k}"))
    h.sync(h.device("mia"))
    expect(h, "mia", has={"tg-0", "n-k14"}, lacks={"n-k15", "tg-99"})


Case = Callable[[Harness], None]

CASES: dict[str, Case] = {
    name.removeprefix("case_"): func for name, func in sorted(globals().items())
    if name.startswith("case_") and callable(func)
}
