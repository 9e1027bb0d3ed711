"""Known Sync Gateway defects, each reproduced by a case on the real gateway (docs/known-gateway-defects.md).

Each runs under every Couchbase Lite release the rig emulates. Where the defect shows (devices on
revision trees, `CBMobile_3`) it is a strict xfail that accepts only `KnownGatewayDefect`, raised
when the case's findings are exactly the documented ones: any other finding or error fails the
test, and a gateway without the defect (no findings) turns it red (XPASS, strict), so the doc and
the mark are then removed. Where the gateway does not show it (version-vector devices,
`CBMobile_4`: seen on main f39abe11abb4), the same case must pass with no findings at all.
"""

from __future__ import annotations

import pytest

from rig.conformance.moves import KNOWN_GATEWAY_DEFECTS, KnownGatewayDefect
from rig.replicator.clients import RELEASES

pytestmark = pytest.mark.gateway


def _params() -> list[object]:
    params = []
    for name, defect in sorted(KNOWN_GATEWAY_DEFECTS.items()):
        for cbl, release in RELEASES.items():
            marks = () if release.uses_version_vectors else (
                pytest.mark.xfail(strict=True, raises=KnownGatewayDefect, reason=defect.doc),)
            params.append(pytest.param(name, cbl, marks=marks, id=f"{name}-cbl{cbl}"))
    return params


@pytest.mark.parametrize(("name", "cbl"), _params())
def test_known_gateway_defect(name: str, cbl: str, make_harness: object) -> None:
    defect = KNOWN_GATEWAY_DEFECTS[name]
    harness = make_harness(cbl=cbl)  # type: ignore[operator]
    defect.case(harness)
    if RELEASES[cbl].uses_version_vectors:
        assert harness.findings() == [], f"{name} under {cbl}: findings where the gateway had none before"
    else:
        defect.judge(harness.findings())
