"""Known Sync Gateway defects, each reproduced by a case on the real gateway (docs/known-gateway-defects.md).

Each is a strict xfail that accepts only `KnownGatewayDefect`, raised when the case's
findings are exactly the documented ones: any other finding or error fails the test,
and a gateway without the defect (no findings) turns it red (XPASS, strict), so the
doc and the mark are then removed.
"""

from __future__ import annotations

import pytest

from rig.conformance.moves import KNOWN_GATEWAY_DEFECTS, KnownGatewayDefect

pytestmark = pytest.mark.gateway


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, raises=KnownGatewayDefect, reason=defect.doc))
    for name, defect in sorted(KNOWN_GATEWAY_DEFECTS.items())
])
def test_known_gateway_defect(name: str, make_harness: object) -> None:
    defect = KNOWN_GATEWAY_DEFECTS[name]
    harness = make_harness()  # type: ignore[operator]
    defect.case(harness)
    defect.judge(harness.findings())
