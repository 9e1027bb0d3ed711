"""Devices against the real Sync Gateway: helpers to make users and devices in a fresh database."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, LocalGateway

MakeDevice = Callable[..., VirtualDevice]


@pytest.fixture
def make_device(gateway: LocalGateway, admin: AdminClient, db: str) -> MakeDevice:
    """make_device(user, channels=[user]) -> a device of `user` (created if new) on the test's database."""
    created: set[str] = set()

    def make(user: str, channels: list[str] | None = None, **kwargs: object) -> VirtualDevice:
        if user not in created:
            admin.put_user(db, user, password=f"{user}-pw", admin_channels=channels or [user])
            created.add(user)
        return VirtualDevice(f"{gateway.public_url}/{db}", Credentials(user, f"{user}-pw"), **kwargs)  # type: ignore[arg-type]

    return make
