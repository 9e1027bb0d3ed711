"""A known gateway defect's judge: only its documented findings count as the defect."""

from __future__ import annotations

import pytest

from rig.conformance.moves import KNOWN_GATEWAY_DEFECTS, KnownGatewayDefect
from rig.oracle import Finding, Kind

DEFECT = KNOWN_GATEWAY_DEFECTS["removal_overtakes_requested_revision"]
KEPT = Finding(Kind.REVOCATION_NOT_APPLIED, "n-big", "2-abc", "carol", "carol-awake", "note.channels",
               "document left the user's channels")


def test_the_documented_finding_is_the_known_defect() -> None:
    with pytest.raises(KnownGatewayDefect, match=r"docs/known-gateway-defects\.md#removal-overtakes"):
        DEFECT.judge([KEPT])


@pytest.mark.parametrize("findings", [
    [KEPT, KEPT],
    [Finding(Kind.LEAK, "n-big", "2-abc", "carol", "carol-awake", "note.channels")],
    [Finding(Kind.REVOCATION_NOT_APPLIED, "n-big", "3-abc", "carol", "carol-awake", "note.channels")],
    [Finding(Kind.REVOCATION_NOT_APPLIED, "n-other", "2-abc", "carol", "carol-awake", "note.channels")],
    [Finding(Kind.MISS, "n-big", "3-abc", "bob", "bob-1", "note.channels")],
], ids=["twice", "leak", "other-revision", "other-document", "miss"])
def test_any_other_finding_is_a_plain_failure(findings: list[Finding]) -> None:
    with pytest.raises(AssertionError, match="other than the known defect"):
        DEFECT.judge(findings)


def test_no_findings_means_the_defect_is_gone() -> None:
    DEFECT.judge([])  # returns without raising: the strict xfail then reports XPASS
