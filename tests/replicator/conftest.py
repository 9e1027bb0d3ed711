"""Devices against the real Sync Gateway: helpers to make users and devices in a fresh database.

Every test that makes devices runs once per Couchbase Lite release the rig emulates (`cbl`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, LocalGateway
from rig.replicator.clients import RELEASES

MakeDevice = Callable[..., VirtualDevice]


@pytest.fixture(params=sorted(RELEASES), ids=lambda name: f"cbl{name}")
def cbl(request: pytest.FixtureRequest) -> str:
    """The Couchbase Lite release the test's devices behave as (every one, in turn)."""
    return str(request.param)


@pytest.fixture
def make_device(gateway: LocalGateway, admin: AdminClient, db: str, cbl: str) -> MakeDevice:
    """make_device(user, channels=[user], cbl=<the test's release>) -> a device of `user` (created if new)."""
    created: set[str] = set()

    def make(user: str, channels: list[str] | None = None, **kwargs: object) -> VirtualDevice:
        if user not in created:
            admin.put_user(db, user, password=f"{user}-pw", admin_channels=channels or [user])
            created.add(user)
        kwargs.setdefault("cbl", cbl)
        return VirtualDevice(f"{gateway.public_url}/{db}", Credentials(user, f"{user}-pw"), **kwargs)  # type: ignore[arg-type]

    return make
