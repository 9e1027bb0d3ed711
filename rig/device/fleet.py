"""A fleet of devices living their lifecycles against one Sync Gateway database.

Users are grouped in teams: a user reads their own channel and their team's,
so one user's write wakes the devices of teammates by silent push.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rig._collections import DEFAULT_COLLECTION, keyspace, qualified, split
from rig.device.device import Credentials, VirtualDevice
from rig.device.lifecycle import AppState
from rig.device.measure import Measurements
from rig.device.profile import DeviceProfile
from rig.device.runner import DeviceRunner
from rig.gateway import AdminClient
from rig.gateway.admin import user_channels
from rig.push import PushService, PushTarget
from rig.replicator import EventKind, ReplicationEvent
from rig.replicator.link import Observer

if TYPE_CHECKING:
    from rig.faults.proxies import LinkProxies


def team_of(user_index: int, team_size: int) -> str:
    return f"team.{user_index // team_size}"


def team_editor(team_size: int, collections: Sequence[str] = ()) -> Any:
    """Profiles in the user's channel, notes in the team's; with named `collections`, into one of them
    drawn at random (each with the rig's default function, `channel(doc.channels)`)."""
    def edit(device: VirtualDevice, rng: random.Random) -> None:
        user = device.credentials.username
        index = int(user.rsplit("-", 1)[1])
        if rng.random() < 0.5:
            doc_id, channels = f"{user}.profile.{rng.randrange(3)}", [user]
        else:
            team = team_of(index, team_size)
            doc_id, channels = f"{team}.note.{user}.{rng.randrange(3)}", [team]
        store = device.store.collection(rng.choice(collections)) if collections else device.store
        store.put(doc_id, {"type": "note", "owner": user, "channels": channels,
                                  "written_at": time.time(), "device": device.name, "value": rng.random()})
    return edit


@dataclass(slots=True)
class Fleet:
    public_url: str
    admin: AdminClient
    db: str
    assignment: Sequence[tuple[int, DeviceProfile]]
    """(user index, profile) per device."""
    push: PushService | None = None
    time_scale: float = 1.0
    seed: int = 1
    team_size: int = 5
    links: LinkProxies | None = None
    """Link proxies: each device connects through the one of a link class drawn from its profile's mix."""
    measurements: Measurements = field(init=False)
    runners: list[DeviceRunner] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.measurements = Measurements(self.time_scale)
        rng = random.Random(self.seed)
        users = sorted({u for u, _ in self.assignment})
        for user_index in users:
            name = self.user_name(user_index)
            self.admin.put_user(self.db, name, password=f"{name}-pw",
                                admin_channels=[name, team_of(user_index, self.team_size)])
        editor = team_editor(self.team_size)
        for ordinal, (user_index, profile) in enumerate(self.assignment):
            name = self.user_name(user_index)
            device = VirtualDevice(f"{self.public_url}/{self.db}", Credentials(name, f"{name}-pw"),
                                   name=f"{name}/{profile.name}/{ordinal}", cbl=profile.cbl)
            if self.links is not None:
                device.via, _ = self.links.address_for(profile.link, random.Random(f"{self.seed}/{ordinal}"))
            runner = DeviceRunner(device, profile, rng=random.Random(rng.random()), time_scale=self.time_scale,
                                  measurements=self.measurements, editor=editor)
            self.runners.append(runner)
            if self.push is not None:
                self.push.register(PushTarget(device.name, name, runner.deliver_push, runner.accepts_push),
                                   profile.push)

    @staticmethod
    def user_name(index: int) -> str:
        return f"user-{index:04d}"

    def run(self, duration: float, *, stop: threading.Event | None = None,
            start_awake_fraction: float = 0.3) -> None:
        """Run every device for `duration` real seconds; some start in the foreground, the rest asleep."""
        stop = stop or threading.Event()
        rng = random.Random(self.seed + 1)
        threads = []
        for runner in self.runners:
            state = AppState.FOREGROUND if rng.random() < start_awake_fraction else AppState.SUSPENDED
            thread = threading.Thread(target=runner.run, args=(stop,), kwargs={"duration": duration, "start": state},
                                      name=f"device-{runner.device.name}", daemon=True)
            threads.append(thread)
            thread.start()
        for thread in threads:
            thread.join(duration + 60)

    def final_sync(self, *, timeout: float = 120.0) -> list[str]:
        """Every device opens the app once more and syncs to the end; returns the failures."""
        return final_sync(self.admin, self.db, self.runners, timeout=timeout)

    def verify(self) -> list[str]:
        """Each device holds every live document its user may read, at the gateway's revision, and no other."""
        return verify_devices(self.admin, self.db, self.runners)


def final_sync(admin: AdminClient, db: str, runners: Sequence[DeviceRunner], *, timeout: float = 120.0,
               rounds: int = 3, barrier: Callable[[str], None] | None = None,
               observer: Callable[[DeviceRunner], Observer | None] | None = None,
               collections: Sequence[str] = ()) -> list[str]:
    """Push everything every device still holds, then pull on every device, until nothing moves.

    Pushes first for all devices, so no device pulls before another has pushed its last
    offline edit; a pull that resolves a conflict in the device's favour makes a revision
    to push, hence the further rounds. Across processes, `barrier(step)` returns once every
    process has reached `step`, and all rounds run so the processes stay in step. `observer(runner)`
    gives the replication observer of each device's pushes (an oracle's recorder), if any. Named
    `collections`: the database's (it has no default collection then).
    """
    failures: list[str] = []
    for round_ in range(rounds):
        pushed = 0
        for runner in runners:
            try:
                told = _acknowledging(runner, observer(runner) if observer is not None else None)
                pushed += runner.device.sync(pull=False, timeout=timeout, observer=told).docs_pushed
            except Exception as exc:
                failures.append(f"{runner.device.name}: push: {type(exc).__name__}: {exc}")
        if barrier is not None:
            barrier(f"pushed-{round_}")
        for collection in collections or [DEFAULT_COLLECTION]:
            admin.wait_for_changes_feed(keyspace(db, collection))
        for runner in runners:
            try:
                runner.device.sync(push=False, timeout=timeout)
            except Exception as exc:
                failures.append(f"{runner.device.name}: pull: {type(exc).__name__}: {exc}")
        if barrier is not None:
            barrier(f"pulled-{round_}")
        elif not any(r.device.store.collection(c).pending() for r in runners
                     for c in collections or [DEFAULT_COLLECTION]) and pushed == 0:
            break
    return failures


def _acknowledging(runner: DeviceRunner, observer: Observer | None) -> Observer:
    """Final pushes acknowledged by the gateway count as the device's acknowledged writes too."""
    def observe(event: ReplicationEvent) -> None:
        if event.kind is EventKind.PUSHED:
            runner.acknowledged.append((qualified(event.collection, event.doc_id), event.rev))
        if observer is not None:
            observer(event)
    return observe


def _own(runner: DeviceRunner, doc_id: str, rev: str) -> bool:
    """The device made this revision itself: refused (still pending), acknowledged, or its body says so
    (the rig's editors stamp the writing device; an acknowledgement can be lost with its connection)."""
    collection, bare = split(doc_id)
    doc = runner.device.store.collection(collection).get(bare)
    if doc is None:
        return False
    if doc.pending or (doc_id, rev) in set(runner.acknowledged):
        return True
    return b'"device"' in doc.body and doc.properties().get("device") == runner.device.name


def verify_devices(admin: AdminClient, db: str, runners: Sequence[DeviceRunner],
                   collections: Sequence[str] = ()) -> list[str]:
    """Compare what each device holds with the gateway's own view of channels and users.

    A device may keep what the gateway refused (still pending) and revisions it wrote itself and
    cannot read (a write into channels its user lacks): neither is a leak. A refused update of a
    document the gateway holds stays pending on top of the gateway's revision: not stale either, nor
    is a refused deletion (another user's document) a miss. A 4.1
    device's copy is current when it holds the gateway's current version (see `stale_copies`).

    Named `collections`: each collection against the device's copy of it, with the user's channels
    in that collection; problems name documents `scope.name/ID`."""
    problems = []
    for collection in collections or [DEFAULT_COLLECTION]:
        problems += _verify_collection(admin, db, collection, runners)
    return problems


def _verify_collection(admin: AdminClient, db: str, collection: str, runners: Sequence[DeviceRunner]) -> list[str]:
    space = keyspace(db, collection)
    rows = admin.all_docs(space)
    docs = {qualified(collection, row["id"]): (row["value"]["rev"], set(row["value"].get("channels") or []))
            for row in rows}
    channels_of: dict[str, set[str]] = {}
    versions: dict[str, str | None] = {}

    def current_version(doc: str) -> str | None:  # fetched once, only for documents a 4.1 device holds
        if doc not in versions:
            versions[doc] = admin.current_version(space, split(doc)[1])
        return versions[doc]

    problems = []
    for runner in runners:
        user = runner.device.credentials.username
        if user not in channels_of:
            channels_of[user] = user_channels(admin.user(db, user), collection)
        readable = channels_of[user]
        expected = {d: rev for d, (rev, chans) in docs.items() if "*" in readable or "!" in chans or readable & chans}
        store = runner.device.store.collection(collection)
        held = {qualified(collection, d.doc_id): d.rev for d in store.docs.values() if not d.deleted}
        pending = {qualified(collection, d.doc_id) for d in store.docs.values() if d.pending}
        # A refused deletion stays pending on the device as its tombstone: not a miss.
        problems += [f"miss: {runner.device.name} lacks {d} {expected[d]}"
                     for d in sorted(set(expected) - set(held) - pending)]
        problems += [f"leak: {runner.device.name} holds {d} {held[d]}"
                     for d in sorted(set(held) - set(expected)) if not _own(runner, d, held[d])]
        problems += stale_copies(runner.device.name, held, expected, current_version, pending)
    return problems


def stale_copies(device: str, held: Mapping[str, str], expected: Mapping[str, str],
                 current_version: Callable[[str], str | None], pending: Set[str] = frozenset()) -> list[str]:
    """The documents a device holds in another revision than the gateway's current one, like compared
    with like: a rev-tree ID (3.3, 3.4) with the gateway's current rev-tree ID, a version
    (`<hex>@<source>`, 4.1) with the gateway's current version (`current_version(doc_id)`, its `_cv`).
    A document still `pending` on the device (a refused update on top of the gateway's) is not stale."""
    problems = []
    for doc_id in sorted(set(held) & set(expected) - set(pending)):
        gateway = current_version(doc_id) if "@" in held[doc_id] else expected[doc_id]
        if held[doc_id] != gateway:
            problems.append(f"stale: {device} has {doc_id} {held[doc_id]}, gateway {gateway}")
    return problems
