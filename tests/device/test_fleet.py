"""300 devices of 100 users live through a scaled stretch of phone life, then nothing is missing or leaked."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from rig._paths import project_root
from rig.device.fleet import Fleet
from rig.device.lifecycle import AppState
from rig.device.profile import DeviceProfile, LogNormal, load_fleet
from rig.gateway import AdminClient, LocalGateway
from rig.push import PushService

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

TIME_SCALE = 60.0
DURATION_S = 45.0  # 45 real seconds at 60x: 45 minutes of phone life


def _eventful(profile: DeviceProfile) -> DeviceProfile:
    """The shipped profile with hazards raised so every behaviour shows up in a short run."""
    return replace(
        profile,
        kill=replace(profile.kill, background_per_hour=2.0, force_quit_per_hour=0.5),
        refresh=replace(profile.refresh, gap_minutes=LogNormal(15.0, 30.0), floor_minutes=10.0,
                        budget_seconds=min(profile.refresh.budget_seconds, 30.0)),
        background=replace(profile.background, session_minutes=LogNormal(20.0, 60.0)),
    )


def test_three_hundred_devices_hold_exactly_what_their_users_may_read(
    gateway: LocalGateway, admin: AdminClient, push_db: tuple[str, PushService]
) -> None:
    db, push = push_db
    spec = load_fleet(Path(project_root() / "devices" / "fleets" / "demo.toml"))
    assignment = [(user, _eventful(profile)) for user, profile in spec.assign(random.Random(2))]
    # A few devices with a budget nobody can meet, so budget kills happen too.
    assignment[:6] = [(u, replace(p, refresh=replace(p.refresh, budget_seconds=0.001),
                                  push=replace(p.push, budget_seconds=0.001))) for u, p in assignment[:6]]
    push.dispatcher.time_scale = TIME_SCALE
    fleet = Fleet(gateway.public_url, admin, db, assignment, push=push, time_scale=TIME_SCALE, seed=5)
    assert len(fleet.runners) == 300
    assert len({r.device.credentials.username for r in fleet.runners}) == 100

    fleet.run(DURATION_S)

    states = Counter(state for r in fleet.runners for _, state in r.lifecycle.transitions)
    triggers = Counter(w.trigger for w in fleet.measurements.wakes)
    assert states[AppState.FOREGROUND] > 0 and states[AppState.SUSPENDED] > 0
    assert states[AppState.TERMINATED] > 0, states
    assert states[AppState.FORCE_QUIT] > 0, states
    assert triggers["refresh"] > 0 and triggers["push"] > 0, triggers
    assert any(w.overrun for w in fleet.measurements.wakes)
    assert push.counters.received > 0 and push.counters.delivered > 0
    summary = fleet.measurements.summary()
    assert summary["time_scale"] == TIME_SCALE
    assert "push" in summary["wakes_by_trigger"]

    failures = fleet.final_sync()
    assert failures == []
    problems = fleet.verify()
    assert problems == [], problems[:20]
    written = sum(1 for row in admin.all_docs(db))
    assert written > 50, "the fleet should have written documents"
