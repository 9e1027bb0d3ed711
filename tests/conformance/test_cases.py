"""The conformance suite: every case against the real gateway; any finding fails the case.

`rig conform` runs exactly this file (see rig/conformance/runner.py).
"""

from __future__ import annotations

import pytest

from rig.conformance import CASES
from rig.oracle.report import findings_text

pytestmark = pytest.mark.gateway


@pytest.mark.parametrize("case", sorted(CASES))
def test_case(case: str, make_harness: object) -> None:
    harness = make_harness()  # type: ignore[operator]
    CASES[case](harness)  # findings are written out by the fixture (conftest.py), one file per pytest item
    findings = harness.findings()
    assert not findings, findings_text(findings)


@pytest.mark.parametrize("case", ["revocation_while_asleep", "document_leaves_channel"])
def test_case_against_the_gateway_view(case: str, make_harness: object) -> None:
    """Without a spec the oracle trusts the gateway's own routing and checks delivery against it."""
    harness = make_harness(against_spec=False)  # type: ignore[operator]
    CASES[case](harness)
    views = [o for o in harness.observations if getattr(o, "view", None) is not None]
    assert len(views) >= 3
    assert harness.checker.world is None
    assert harness.findings() == []
