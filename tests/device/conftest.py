"""A database whose document_changed webhook reaches a push service, and test-sized profiles."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from rig.device.profile import DeviceProfile, LogNormal, find_profile
from rig.gateway import AdminClient, DatabaseSpec
from rig.push import PushService

_ids = itertools.count()


@pytest.fixture
def push_db(admin: AdminClient) -> Iterator[tuple[str, PushService]]:
    """(database name, running push service) with Sync Gateway's webhook pointed at the service."""
    name = f"p{next(_ids)}_{uuid.uuid4().hex[:8]}"
    service = PushService(admin, name, rng=random.Random(3))
    service.start()
    admin.create_database_from_spec(DatabaseSpec(name, extra={"event_handlers": service.webhook_config()}))
    yield name, service
    service.stop()


def quiet_ios(**changes: object) -> DeviceProfile:
    """ios-active without random events, so a test controls what happens."""
    base = find_profile("ios-active")
    profile = replace(
        base,
        background=replace(base.background, session_minutes=LogNormal(10_000.0, 10_000.0)),
        refresh=replace(base.refresh, enabled=False),
        push=replace(base.push, drop_probability=0.0, delay_seconds=LogNormal(0.05, 0.1)),
        kill=replace(base.kill, background_per_hour=0.0, force_quit_per_hour=0.0),
    )
    return replace(profile, **changes)  # type: ignore[arg-type]
