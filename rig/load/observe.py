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

from rig.device.device import VirtualDevice
from rig.gateway import AdminClient
from rig.load.scenario import Scenario
from rig.oracle.observations import (
    Held,
    Observation,
    SyncSnapshot,
    WriteAttempt,
    is_server_refusal,
    refusal_status,
    to_json,
    write_jsonl,
)
from rig.oracle.routing import load
from rig.oracle.workload import RoutingWorkload, seed_attempts, user_name
from rig.replicator import EventKind, ReplicationEvent

SEED_FILE = "observations-seed.jsonl"


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
    observations: list[Observation] = []
    for change in workload.principals():
        if change.op == "role":
            admin.put_role(db, change.name, admin_channels=change.channels)
        else:
            admin.put_user(db, change.name, password=password(change.name), admin_channels=change.channels,
                           admin_roles=change.roles)
        observations.append(replace(change, t=time.time()))
    rng = random.Random(scenario.seed)
    docs = list(workload.grant_docs()) + [(doc_id, body) for doc_id, body, _ in workload.guests().values()]
    for index in range(scenario.fleet.users):
        docs += [(w.doc_id, w.body) for w in workload.seed_writes(index, scenario.workload.docs_per_user, rng)
                 if w.body is not None]
    for start in range(0, len(docs), 200):
        batch = docs[start:start + 200]
        now = time.time()
        results = admin.bulk_docs(db, [{"_id": doc_id, **body, "written_at": now} for doc_id, body in batch])
        observations += seed_attempts(workload, results, batch, now)
    admin.wait_for_changes_feed(db)
    write_jsonl(run_dir / SEED_FILE, observations)
    return workload


def change_guest_grants(admin: AdminClient, workload: RoutingWorkload, db: str, log: ObservationLog) -> int:
    """The admin's mid-run changes of the guest grants (updates and deletes), recorded as observations.
    Returns how many the gateway accepted."""
    changes = workload.guest_changes()
    if not changes:
        return 0
    docs: list[dict[str, Any]] = []
    for doc_id, body in changes:
        rev = admin.get_document(db, doc_id)["_rev"]
        docs.append({"_id": doc_id, "_rev": rev, "_deleted": True} if body is None
                    else {"_id": doc_id, "_rev": rev, **body, "written_at": time.time()})
    results = admin.bulk_docs(db, docs)
    # Stamped once the gateway answered: a revocation then counts from no earlier than it took effect, so
    # a note a guest received just before it is no leak (a grant kept a moment longer excuses, never accuses).
    attempts = seed_attempts(workload, results, changes, time.time())
    for attempt in attempts:
        log.record(attempt)
    return sum(a.accepted for a in attempts)


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
        self._made[(doc_id, rev)] = (body, time.time())

    def on_event(self, event: ReplicationEvent) -> None:
        if event.kind is EventKind.ERROR and event.doc_id and is_server_refusal(refusal_status(event.detail)):
            key = (event.doc_id, event.rev)
            made = self._made.get(key)
            if made is not None and key not in self._refused:
                self._refused.add(key)
                body, t = made
                self.log.record(WriteAttempt(event.doc_id, self.user, False, body, body is None,
                                             device=self.device.name, status=refusal_status(event.detail),
                                             detail=event.detail, t=t))
        elif event.kind in (EventKind.PUSHED, EventKind.REJECTED):
            made = self._made.pop((event.doc_id, event.rev), None)
            if made is None:
                return  # a conflict resolution's revision: not an edit the workload made
            body, t = made
            accepted = event.kind is EventKind.PUSHED
            self.log.record(WriteAttempt(event.doc_id, self.user, accepted, body, body is None,
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
            d.doc_id: Held(d.rev, d.deleted, d.pending) for d in list(self.device.store.docs.values())}
        self.log.record(SyncSnapshot(self.device.name, self.user, outcome, docs, None, time.time(), scope))

    def settle(self) -> None:
        """Revisions without an answer: on the gateway if the device's store says so (else dropped).

        Mostly revisions a newer edit superseded before a push (the gateway gets only their ids, as
        history), and replies lost to a cut connection or a 304 (the gateway already had it)."""
        for (doc_id, rev), (body, t) in sorted(self._made.items(), key=lambda item: item[1][1]):
            doc = self.device.store.get(doc_id)
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
        if write.body is None:
            current = device.store.get(write.doc_id)
            if current is None or current.deleted:
                return
            doc = device.store.delete(write.doc_id)
            recorder.made(write.doc_id, doc.rev, None)
            return
        body = {**write.body, "written_at": time.time(), "device": device.name}
        doc = device.store.put(write.doc_id, body)
        recorder.made(write.doc_id, doc.rev, body)
    return edit


__all__ = ["SEED_FILE", "DeviceRecorder", "ObservationLog", "change_guest_grants", "routing_editor",
           "routing_workload", "seed_routing", "user_name"]
