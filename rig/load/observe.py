"""A routing-spec run's observations: what each load process records for the oracle (JSON Lines).

- ``observations-seed.jsonl`` (written by ``rig run`` while it seeds): the roles
  and users (``principal``), the admin's grant and seed documents (``write``).
- ``observations-N.jsonl`` (one per load process): every revision a device
  made, once its outcome is known (``write``: acknowledged, refused with its
  status, or inferred after the final sync from the device's store: an
  ancestor of the revision the gateway is known to hold, i.e. a revision a
  newer edit superseded before it was pushed, or whose reply was lost to a
  budget kill or answered 304); what a device
  holds when it saves a checkpoint (the end of a one-shot replication, every few
  seconds of a continuous one), at most every ``snapshot_every_s`` and
  ``max_snapshots`` times (``sync`` with ``scope: leaks``: other devices keep
  writing, so only leaks are sound there); and, after the final sync, each
  device's whole store (``sync``, everything checked).

Each write carries the time the device made the revision (before the gateway
could have it), each snapshot the time it was taken, so merging the files by
time puts every revision a device holds before the snapshot that shows it.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rig._collections import keyspace, qualified, split
from rig.device.device import VirtualDevice
from rig.gateway import AdminClient
from rig.load.scenario import Scenario
from rig.oracle.names import type_of, user_name
from rig.oracle.observations import (
    Held,
    Observation,
    RevisionNames,
    SyncSnapshot,
    WriteAttempt,
    is_server_refusal,
    read_jsonl,
    refusal_status,
    to_json,
    write_jsonl,
)
from rig.oracle.routing import DEFAULT_COLLECTION, Principal, RoutingSpec, load
from rig.oracle.workload import RoutingWorkload, seed_attempts
from rig.replicator import EventKind, ReplicationEvent

SEED_FILE = "observations-seed.jsonl"
NAMES_FILE = "observations-versions.jsonl"


def routing_workload(scenario: Scenario) -> RoutingWorkload:
    routing = scenario.routing
    assert routing is not None
    return RoutingWorkload(load(routing.spec), scenario.fleet.users, scenario.team_size,
                           user_channels=routing.user_channels, lead_roles=routing.lead_roles,
                           bad_write_share=routing.bad_write_share,
                           delete_share=routing.delete_share, foreign_write_share=routing.foreign_write_share,
                           stranded_seed_share=routing.stranded_seed_share,
                           # The processes deal devices out by this assignment (rig.load.process.assignment).
                           device_users=tuple(u for u, _ in scenario.fleet.assign(random.Random(scenario.seed))))


def password(name: str) -> str:
    return f"{name}-pw"


def seed_routing(admin: AdminClient, scenario: Scenario, db: str, run_dir: Path) -> RoutingWorkload:
    """Roles, users, grant documents and each user's seed documents, recorded as observations."""
    workload = routing_workload(scenario)
    spec = workload.spec
    observations: list[Observation] = []
    for change in workload.principals():
        # Named collections: the static channels in each (`collection_access`), as the oracle's world has them.
        fields = spec.channel_fields(Principal(change.name, change.channels))
        access = fields.get("collection_access")
        if change.op == "role":
            admin.put_role(db, change.name, admin_channels=fields.get("admin_channels") or (), collection_access=access)
        else:
            admin.put_user(db, change.name, password=password(change.name), admin_channels=fields.get("admin_channels"),
                           admin_roles=change.roles, collection_access=access)
        observations.append(replace(change, t=time.time()))
    rng = random.Random(scenario.seed)
    docs = list(workload.grant_docs()) + [(doc_id, body) for doc_id, body, _ in workload.guests().values()]
    for index in range(scenario.fleet.users):
        docs += [(w.doc_id, w.body) for w in workload.seed_writes(index, scenario.workload.docs_per_user, rng)
                 if w.body is not None]
    by_collection: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, body in docs:
        by_collection.setdefault(split(name)[0], []).append((name, body))
    for collection, named in by_collection.items():
        for start in range(0, len(named), 200):
            batch = named[start:start + 200]
            now = time.time()
            results = admin.bulk_docs(keyspace(db, collection),
                                      [{"_id": split(name)[1], **body, "written_at": now} for name, body in batch])
            observations += seed_attempts(workload, results, batch, now)
    for collection in by_collection or [DEFAULT_COLLECTION]:
        admin.wait_for_changes_feed(keyspace(db, collection))
    write_jsonl(run_dir / SEED_FILE, observations)
    return workload


def record_revision_names(admin: AdminClient, db: str, spec: RoutingSpec, run_dir: Path) -> int:
    """After the final sync: every document's current rev-tree ID and version, paired by the gateway
    (one `versions` record), so the oracle judges a 4.1 device's versions and a 3.3 device's rev-tree
    IDs against the same revisions. Returns how many documents were paired."""
    names: dict[str, tuple[str, str]] = {}
    for collection in spec.collections:
        named = collection != DEFAULT_COLLECTION
        keyspace = f"{db}.{collection}" if named else db
        for doc_id, (rev, cv) in admin.revision_names(keyspace).items():
            if cv is not None:
                names[f"{collection}/{doc_id}" if named else doc_id] = (rev, cv)
    write_jsonl(run_dir / NAMES_FILE, [RevisionNames(names, time.time())])
    return len(names)


def grant_documents(spec: RoutingSpec, run_dir: Path) -> dict[str, list[str]]:
    """collection -> IDs of the run's documents that may grant access (an accepted write of a type
    with `access` or `roles` rules), from every observations file: what `check_principals` reads."""
    kinds = {name for name, doc_type in spec.types.items() if doc_type.access or doc_type.roles}
    found: dict[str, set[str]] = {}
    for path in sorted(run_dir.glob("observations-*.jsonl")):
        for obs in read_jsonl(path):
            if isinstance(obs, WriteAttempt) and obs.accepted and type_of(obs.doc) in kinds:
                collection, doc_id = split(obs.doc)
                found.setdefault(collection, set()).add(doc_id)
    return {collection: sorted(ids) for collection, ids in sorted(found.items())}


GRANT_ROUND_PAUSE_S = 1.0
"""Between rounds of guest-grant changes: long enough for the gateway to recompute the channels of the
users the last round changed before the next round changes them again (see `guest_change_rounds`)."""


def change_guest_grants(admin: AdminClient, workload: RoutingWorkload, db: str, log: ObservationLog, *,
                        pause_s: float = GRANT_ROUND_PAUSE_S) -> int:
    """The admin's mid-run changes of the guest grants (updates and deletes), recorded as observations,
    in rounds that change no user's access twice, `pause_s` apart. Returns how many the gateway accepted."""
    accepted = 0
    for number, changes in enumerate(workload.guest_change_rounds()):
        if number:
            time.sleep(pause_s)
        by_collection: dict[str, list[tuple[str, dict[str, Any] | None]]] = {}
        for name, body in changes:  # documents of a named collection are named `scope.name/ID`
            by_collection.setdefault(split(name)[0], []).append((name, body))
        results: list[dict[str, Any]] = []
        ordered: list[tuple[str, dict[str, Any] | None]] = []
        for collection, batch in by_collection.items():
            space, docs = keyspace(db, collection), []
            for name, body in batch:
                doc_id = split(name)[1]
                rev = admin.get_document(space, doc_id)["_rev"]
                docs.append({"_id": doc_id, "_rev": rev, "_deleted": True} if body is None
                            else {"_id": doc_id, "_rev": rev, **body, "written_at": time.time()})
            results += admin.bulk_docs(space, docs)
            ordered += batch
        # Stamped once the gateway answered: a revocation then counts from no earlier than it took effect,
        # so a note a guest received just before it is no leak (a grant kept a moment longer excuses,
        # never accuses).
        attempts = seed_attempts(workload, results, ordered, time.time())
        for attempt in attempts:
            log.record(attempt)
        accepted += sum(a.accepted for a in attempts)
    return accepted


class ObservationLog:
    """One process's observations file; records from any device's thread or greenlet."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = path.open("a")
        self._lock = threading.Lock()
        self.counts = {"writes": 0, "snapshots": 0, "inferred": 0, "unresolved": 0}

    @classmethod
    def temporary(cls, index: int) -> ObservationLog:
        """A file where this process runs (its contents go to the run directory at the end: `take`)."""
        handle, name = tempfile.mkstemp(prefix=f"rig-observations-{index}-", suffix=".jsonl")
        os.close(handle)
        return cls(Path(name))

    def take(self) -> str:
        """The whole file (closed), which is then removed."""
        self.close()
        text = self.path.read_text()
        self.path.unlink(missing_ok=True)
        return text

    def record(self, obs: Observation) -> None:
        line = json.dumps(to_json(obs), separators=(",", ":")) + "\n"
        with self._lock:
            self._handle.write(line)
            self.counts["writes" if isinstance(obs, WriteAttempt) else "snapshots"] += 1

    def close(self) -> None:
        with self._lock:
            if not self._handle.closed:
                self._handle.close()


class DeviceRecorder:
    """One device's revisions and snapshots, into its process's log."""

    def __init__(self, log: ObservationLog, device: VirtualDevice, *, snapshot_every_s: float,
                 max_snapshots: int) -> None:
        self.log = log
        self.device = device
        self.user = device.credentials.username
        self.snapshot_every_s = snapshot_every_s
        self.max_snapshots = max_snapshots
        self.snapshots = 0
        self._last_snapshot = 0.0
        self._made: dict[tuple[str, str], tuple[dict[str, Any] | None, float]] = {}
        """(doc, rev) -> (body or None for a deletion, when the device made it): outcome not known yet."""
        self._refused: set[tuple[str, str]] = set()
        """(doc, rev) answered with a 5xx, recorded once (the device retries it; a later success is
        recorded too, so the oracle sees both the refusal and the revision the gateway then holds)."""

    def made(self, doc_id: str, rev: str, body: dict[str, Any] | None) -> None:
        """`doc_id` as the run names it (`scope.name/ID` in a named collection: rig._collections)."""
        self._made[(doc_id, rev)] = (body, time.time())

    def on_event(self, event: ReplicationEvent) -> None:
        doc_id = qualified(event.collection, event.doc_id)
        if event.kind is EventKind.ERROR and event.doc_id and is_server_refusal(refusal_status(event.detail)):
            key = (doc_id, event.rev)
            made = self._made.get(key)
            if made is not None and key not in self._refused:
                self._refused.add(key)
                body, t = made
                self.log.record(WriteAttempt(doc_id, self.user, False, body, body is None,
                                             device=self.device.name, status=refusal_status(event.detail),
                                             detail=event.detail, t=t))
        elif event.kind in (EventKind.PUSHED, EventKind.REJECTED):
            made = self._made.pop((doc_id, event.rev), None)
            if made is None:
                return  # a conflict resolution's revision: not an edit the workload made
            body, t = made
            accepted = event.kind is EventKind.PUSHED
            self.log.record(WriteAttempt(doc_id, self.user, accepted, body, body is None,
                                         rev=event.rev if accepted else None, device=self.device.name,
                                         status=None if accepted else refusal_status(event.detail),
                                         detail=event.detail, t=t))
        elif event.kind is EventKind.CHECKPOINT_SAVED and self.snapshots < self.max_snapshots:
            now = time.monotonic()
            if now - self._last_snapshot >= self.snapshot_every_s:
                self._last_snapshot = now
                self.snapshots += 1
                self.snapshot(scope="leaks")

    def snapshot(self, *, scope: str = "all", outcome: str = "caught_up") -> None:
        docs = {} if outcome != "caught_up" else {
            qualified(c, d.doc_id): Held(d.rev, d.deleted, d.pending)
            for c in self.device.collections for d in list(self.device.store.collection(c).docs.values())}
        self.log.record(SyncSnapshot(self.device.name, self.user, outcome, docs, None, time.time(), scope))

    def settle(self) -> None:
        """Revisions without an answer: on the gateway if the device's store says so (else dropped).

        Mostly revisions a newer edit superseded before a push (the gateway gets only their ids, as
        history), and replies lost to a cut connection or a 304 (the gateway already had it)."""
        for (doc_id, rev), (body, t) in sorted(self._made.items(), key=lambda item: item[1][1]):
            collection, bare = split(doc_id)
            doc = self.device.store.collection(collection).get(bare)
            known = [doc.rev, *doc.history] if doc is not None else []
            if doc is not None and doc.remote_rev in known and rev in known[known.index(doc.remote_rev):]:
                self.log.record(WriteAttempt(doc_id, self.user, True, body, body is None, rev=rev,
                                             device=self.device.name, t=t,
                                             detail="inferred: an ancestor of the gateway's revision"))
                self.log.counts["inferred"] += 1
            elif (doc_id, rev) not in self._refused:
                self.log.counts["unresolved"] += 1
        self._made.clear()


def routing_editor(workload: RoutingWorkload, user_index: int, key: str, recorder: DeviceRecorder) -> Any:
    """The device's edits: the workload's next write, saved in the device's store and remembered."""
    def edit(device: VirtualDevice, rng: random.Random) -> None:
        held = {d.doc_id: None if d.deleted else d.properties()
                for d in list(device.store.docs.values()) if not d.pending}
        write = workload.write(user_index, key, rng, held)
        if write is None:
            return
        collection, doc_id = split(write.doc_id)
        store = device.store.collection(collection)
        if write.body is None:
            current = store.get(doc_id)
            if current is None or current.deleted:
                return
            doc = store.delete(doc_id)
            recorder.made(write.doc_id, doc.rev, None)
            return
        body = {**write.body, "written_at": time.time(), "device": device.name}
        doc = store.put(doc_id, body)
        recorder.made(write.doc_id, doc.rev, body)
    return edit


__all__ = [
    "NAMES_FILE",
    "SEED_FILE",
    "DeviceRecorder",
    "ObservationLog",
    "change_guest_grants",
    "grant_documents",
    "record_revision_names",
    "routing_editor",
    "routing_workload",
    "seed_routing",
    "user_name",
]
