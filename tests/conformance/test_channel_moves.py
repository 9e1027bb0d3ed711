"""The quick channel-move cases see failures, and the known-defect case sees the defect's absence.

The passing cases (rig/conformance/moves.py, run by test_cases.py) must turn red
for a device that never applies removals. The known gateway defect's case must
end without findings when late revisions are not stored, which is what a fixed
gateway would give (docs/known-gateway-defects.md): then its strict xfail in
test_known_gateway_defects.py turns red.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from rig.blip import Request
from rig.conformance import CASES, Harness
from rig.conformance.moves import KNOWN_GATEWAY_DEFECTS
from rig.oracle import Kind
from rig.oracle.report import findings_text
from rig.replicator.pull import Puller
from rig.replicator.store import LocalStore

pytestmark = pytest.mark.gateway


@pytest.mark.parametrize("case", ["quick_moves_while_asleep", "moves_while_awake"])
def test_a_device_that_never_purges_fails_the_move_cases(case: str, make_harness: Callable[..., Harness],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LocalStore, "purge", lambda self, doc_id: False)
    harness = make_harness()
    CASES[case](harness)
    findings = harness.findings()
    kept = {(f.doc, f.user) for f in findings if f.kind is Kind.REVOCATION_NOT_APPLIED}
    assert ("n-away", "bob") in kept, findings_text(findings)


def test_the_defect_case_has_no_findings_when_late_revisions_are_dropped(
        make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    """A device that drops a revision older than a removal it already applied ends clean: so the case tells
    a gateway that no longer sends such revisions (or redacts them) from one that does."""
    removed_at: dict[str, int] = {}
    on_changes, on_rev = Puller.on_changes, Puller.on_rev

    def remember_removals(self: Puller, request: Request) -> None:
        for row in (json.loads(request.body) if request.body else None) or []:
            if len(row) > 3 and isinstance(row[3], int) and row[3] & 0b110:
                removed_at[row[1]] = int(row[0])
        on_changes(self, request)

    def drop_overtaken(self: Puller, request: Request) -> None:
        doc_id, sequence = request.properties.get("id", ""), request.properties.get("sequence", "")
        if sequence.isdigit() and int(sequence) < removed_at.get(doc_id, 0):
            self._finish(request, doc_id, request.properties.get("rev", ""))
            return
        on_rev(self, request)

    monkeypatch.setattr(Puller, "on_changes", remember_removals)
    monkeypatch.setattr(Puller, "on_rev", drop_overtaken)
    defect = KNOWN_GATEWAY_DEFECTS["removal_overtakes_requested_revision"]
    harness = make_harness()
    defect.case(harness)
    assert removed_at, "the case never saw a removal row"
    assert harness.findings() == []
    defect.judge(harness.findings())  # no findings: returns, so the strict xfail would XPASS
