"""The conformance suite: every case against the real gateway; any finding fails the case.

`rig conform` runs exactly this file (see rig/conformance/runner.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from rig.conformance import CASES
from rig.conformance.runner import ENV_RESULTS, write_case_result
from rig.oracle.report import findings_text

pytestmark = pytest.mark.gateway


@pytest.mark.parametrize("case", sorted(CASES))
def test_case(case: str, make_harness: object) -> None:
    harness = make_harness()  # type: ignore[operator]
    start = time.monotonic()
    try:
        CASES[case](harness)
    finally:
        results = os.environ.get(ENV_RESULTS)
        if results:
            write_case_result(Path(results), case, harness.findings(), time.monotonic() - start)
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


def _attack_names() -> list[str]:
    from rig.conformance import default_spec_path
    from rig.conformance.attacks import attack_cases
    from rig.conformance.runner import ENV_SPEC
    from rig.oracle import load

    return sorted(attack_cases(load(Path(os.environ.get(ENV_SPEC) or default_spec_path()))))


@pytest.mark.parametrize("case", _attack_names())
def test_attack(case: str, make_harness: object, routing_spec: object) -> None:
    """The cases generated from the spec (rig/conformance/attacks.py): every rule attacked on the gateway."""
    from rig.conformance.attacks import attack_cases

    harness = make_harness()  # type: ignore[operator]
    start = time.monotonic()
    try:
        attack_cases(routing_spec)[case](harness)  # type: ignore[arg-type]
    finally:
        results = os.environ.get(ENV_RESULTS)
        if results:
            write_case_result(Path(results), case, harness.findings(), time.monotonic() - start)
    findings = harness.findings()
    assert not findings, findings_text(findings)
