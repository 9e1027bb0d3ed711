"""Cases where notes move between teams in quick succession while members' devices pull.

A note's channels are ``user.{owner}`` and ``team.{team}`` (teams spec), so
changing its ``team`` moves it: members of the old team must lose it (the
gateway sends a removal and the device purges), members of the new team get
it. The passing cases cover sleeping devices (one-shot and continuous) that
wake after a burst of moves, and awake continuous devices that see each move.

One known gateway defect is reproduced here too, deterministically:
:func:`removal_overtakes_requested_revision` (see
docs/known-gateway-defects.md). It is not in the suite's CASES (``rig
conform`` would report it against every sync function); the tests run it as
a strict xfail, so a fixed gateway turns it red.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rig.conformance.cases import expect
from rig.conformance.harness import Harness
from rig.oracle.check import Finding, Kind

MEMBERS = {"bob": "red", "carol": "blue", "dave": "green"}
"""One member per team; ann (a lead) owns the notes and belongs to every team."""

DEFECTS_DOC = "docs/known-gateway-defects.md"


def _note(team: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "note", "owner": "ann", "team": team, "text": text, **extra}


def _teams(h: Harness) -> None:
    for team in sorted(set(MEMBERS.values())):
        h.write(f"m-ann-{team}", {"type": "membership", "member": "ann", "team": team})
    for member, team in MEMBERS.items():
        h.write(f"m-{member}-{team}", {"type": "membership", "member": member, "team": team})


BURST: tuple[tuple[str, str, str], ...] = (
    ("n-back", "blue", "2"), ("n-away", "blue", "2"), ("n-stay", "red", "2"),
    ("n-back", "red", "3"), ("n-away", "green", "3"), ("n-stay", "red", "3"),
)
"""Back-to-back edits (by the admin, so nothing waits on a password check): red -> blue -> red,
red -> blue -> green, and an edit that stays in red; each step changes the text too."""


def _expect_after_burst(h: Harness) -> None:
    expect(h, "bob", has={"n-back", "n-stay"}, lacks={"n-away"})
    expect(h, "carol", lacks={"n-back", "n-away", "n-stay"})
    expect(h, "dave", has={"n-away"}, lacks={"n-back", "n-stay"})


def _wake_and_record(h: Harness, one_shot: dict[str, Any], continuous: dict[str, Any]) -> None:
    for user in MEMBERS:
        h.sync(one_shot[user])
        awake = h.awake(continuous[user])
        h.settle(awake)
        h.snapshot(continuous[user])
        awake.stop()


def case_quick_moves_while_asleep(h: Harness) -> None:
    """Notes move red -> blue -> red and red -> blue -> green within a second, with edits, while every member's
    devices sleep (one one-shot, one continuous each); woken, each holds exactly what its user may see now."""
    _teams(h)
    for doc_id in ("n-back", "n-away", "n-stay"):
        h.write(doc_id, _note("red", "1"), user="ann")
    one_shot = {user: h.device(user, f"{user}-oneshot") for user in MEMBERS}
    continuous = {user: h.device(user, f"{user}-continuous") for user in MEMBERS}
    _wake_and_record(h, one_shot, continuous)
    for doc_id, team, text in BURST:
        h.write(doc_id, _note(team, text))
    _wake_and_record(h, one_shot, continuous)
    _expect_after_burst(h)


def case_moves_while_awake(h: Harness) -> None:
    """Every member's continuous device stays awake while the notes move (each move reaches every device before
    the next); a one-shot device per member syncs before and after. All end holding what their user may see."""
    _teams(h)
    for doc_id in ("n-back", "n-away", "n-stay"):
        h.write(doc_id, _note("red", "1"), user="ann")
    one_shot = {user: h.device(user, f"{user}-oneshot") for user in MEMBERS}
    for device in one_shot.values():
        h.sync(device)
    continuous = {user: h.device(user, f"{user}-continuous") for user in MEMBERS}
    awake = [h.awake(device) for device in continuous.values()]
    try:
        for doc_id, team, text in BURST:
            h.write(doc_id, _note(team, text))
            h.settle(*awake)
            for device in continuous.values():
                h.snapshot(device)
    finally:
        for running in awake:
            running.stop()
    for device in one_shot.values():
        h.sync(device)
    _expect_after_burst(h)


CASES: dict[str, Callable[[Harness], None]] = {
    "quick_moves_while_asleep": case_quick_moves_while_asleep,
    "moves_while_awake": case_moves_while_awake,
}


# Known gateway defects ------------------------------------------------------------------------------

BIG_BODY = 1_000_000
"""Bytes of padding in the revision that must arrive late: the gateway's BLIP sender interleaves
frames of messages queued together, so a one-frame `changes` message queued just after a 1 MB
`rev` completes first on the device, whatever the machine's load."""


def removal_overtakes_requested_revision(h: Harness) -> None:
    """carol's continuous device is slow to answer a `changes` message offering revision 2 of a note just
    moved into her team; the note moves back out; the gateway then sends the removal (a later sequence)
    before revision 2, which carol's device, like Couchbase Lite, purges first and then stores."""
    _teams(h)
    h.write("n-big", _note("red", "1"), user="ann")
    carol = h.device("carol", "carol-awake")
    awake = h.awake(carol)
    try:
        h.settle(awake)
        awake.hold_replies()
        rows = awake.rows
        h.write("n-big", _note("blue", "2", pad="x" * BIG_BODY))
        awake.wait_for_rows(rows + 1)  # the row offering revision 2; the device's answer is held
        h.write("n-big", _note("red", "3"))
        h.admin.wait_for_changes_feed(h.db)
        awake.release_replies()
        h.settle(awake)
        h.snapshot(carol)
    finally:
        awake.stop()
    expect(h, "carol", lacks={"n-big"})


class KnownGatewayDefect(Exception):
    """A case showed exactly the findings a documented gateway defect produces."""


@dataclass(frozen=True, slots=True)
class KnownDefect:
    """A case that reproduces a gateway defect, the findings it produces while the defect is there, and its doc."""

    case: Callable[[Harness], None]
    anchor: str
    expected: Callable[[list[Finding]], bool]

    @property
    def doc(self) -> str:
        return f"{DEFECTS_DOC}#{self.anchor}"

    def judge(self, findings: list[Finding]) -> None:
        """Raise KnownGatewayDefect for exactly the documented findings, AssertionError for any others;
        return when there are none (the gateway no longer has the defect)."""
        if not findings:
            return
        text = "\n".join(str(f) for f in findings)
        if self.expected(findings):
            raise KnownGatewayDefect(f"known gateway defect, see {self.doc}:\n{text}")
        raise AssertionError(f"findings other than the known defect's ({self.doc}):\n{text}")


def _revision_2_kept_by_carol(findings: list[Finding]) -> bool:
    return len(findings) == 1 and findings[0].kind is Kind.REVOCATION_NOT_APPLIED \
        and findings[0].doc == "n-big" and findings[0].rev.startswith("2-") \
        and findings[0].device == "carol-awake"


KNOWN_GATEWAY_DEFECTS: dict[str, KnownDefect] = {
    "removal_overtakes_requested_revision": KnownDefect(
        removal_overtakes_requested_revision, "removal-overtakes-requested-revision", _revision_2_kept_by_carol),
}
