"""The oracle catches each deliberately broken sync function, naming the rule it breaks.

Each broken function is run through one case, with devices of each Couchbase Lite release;
the case must end with findings of the expected kind naming the broken rule (and the
rendered function, run through the same case by test_cases.py, has none).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rig.conformance import CASES, Harness, broken_sync_functions
from rig.oracle import Kind
from rig.oracle.report import findings_text
from rig.replicator.clients import RELEASES

pytestmark = pytest.mark.gateway

BROKEN = broken_sync_functions()

EXPECTED = [
    # broken function, case run, finding kind, rule named
    ("forgot_require_access", "write_checks", Kind.WRITE_ACCEPTED, "note.require_access(team.{team})"),
    ("wrong_channel", "user_channels", Kind.LEAK, "note.channels"),
    ("wrong_channel", "user_channels", Kind.MISS, "note.channels via user.channels"),
    ("missing_grant", "document_grants_backfill", Kind.MISS, "note.channels via membership.access"),
    ("public_by_mistake", "user_channels", Kind.LEAK, "note.channels"),
]


def test_every_broken_function_is_exercised() -> None:
    assert set(BROKEN) == {name for name, *_ in EXPECTED}


@pytest.mark.parametrize("cbl", list(RELEASES))
@pytest.mark.parametrize(("broken", "case", "kind", "rule"), EXPECTED,
                         ids=[f"{b}-{k.value}" for b, _, k, _ in EXPECTED])
def test_broken_sync_function_is_caught(broken: str, case: str, kind: Kind, rule: str, cbl: str,
                                        make_harness: Callable[..., Harness]) -> None:
    """Under every client release: the devices' wire protocol must not hide (or invent) a finding."""
    harness = make_harness(sync=BROKEN[broken], against_spec=True, cbl=cbl)
    CASES[case](harness)
    findings = harness.findings()
    matching = [f for f in findings if f.kind is kind and f.rule.startswith(rule)]
    assert matching, f"{broken} not caught as {kind.value} of {rule}:\n{findings_text(findings)}"
    assert all(f.doc and f.user and f.device for f in matching)
