"""The conformance suite: every case against the real gateway; any finding fails the case.

`rig conform` runs exactly this file (see rig/conformance/runner.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rig.conformance import cases_for, default_spec_path
from rig.conformance.attacks import attack_cases
from rig.conformance.runner import ENV_SPEC
from rig.oracle import load
from rig.oracle.report import findings_text

pytestmark = pytest.mark.gateway
SPEC = load(Path(os.environ.get(ENV_SPEC) or default_spec_path()))
CASE_SET = cases_for(SPEC)
"""The teams cases, or the collection cases for a spec with named collections."""


@pytest.mark.parametrize("case", sorted(CASE_SET))
def test_case(case: str, make_harness: object) -> None:
    harness = make_harness()  # type: ignore[operator]
    CASE_SET[case](harness)  # findings are written out by the fixture (conftest.py), one file per pytest item
    findings = harness.findings()
    assert not findings, findings_text(findings)


GATEWAY_VIEW_CASES = ["revocation_while_asleep", "document_leaves_channel"] if SPEC.collections == ("_default",) \
    else ["grants_hold_in_their_collection", "devices_push_and_pull_both_collections"]
"""Cases run again against the gateway's own view (named collections: collection by collection)."""


@pytest.mark.parametrize("case", GATEWAY_VIEW_CASES)
def test_case_against_the_gateway_view(case: str, make_harness: object) -> None:
    """Without a spec the oracle trusts the gateway's own routing and checks delivery against it."""
    harness = make_harness(against_spec=False)  # type: ignore[operator]
    CASE_SET[case](harness)
    views = [o for o in harness.observations if getattr(o, "view", None) is not None]
    assert len(views) >= 2
    assert harness.checker.world is None
    assert harness.findings() == []


if SPEC.collections == ("_default",):  # the generated attacks know the default collection only
    @pytest.mark.parametrize("case", sorted(attack_cases(SPEC)))
    def test_attack(case: str, make_harness: object) -> None:
        """The cases generated from the spec (rig/conformance/attacks.py): every rule attacked on the gateway."""
        harness = make_harness()  # type: ignore[operator]
        attack_cases(SPEC)[case](harness)  # findings are written out by the fixture (conftest.py)
        findings = harness.findings()
        assert not findings, findings_text(findings)
