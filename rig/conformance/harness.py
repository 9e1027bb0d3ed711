"""A conformance case's hands: acts on a real Sync Gateway database and records every observation.

Each action (principal change, write, device sync) goes to the gateway and is
recorded as an :mod:`rig.oracle.observations` record, in order, and fed to a
:class:`rig.oracle.Checker`; :meth:`Harness.findings` is the verdict. The
oracle's own expectation (:meth:`Harness.expected`) lets a case assert that it
really exercises what it claims, independently of what the gateway did.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rig._errors import AdminApiError, AuthenticationRejected, RigError
from rig.conformance.awake import AwakeDevice, Tap
from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, PublicClient
from rig.gateway.admin import user_channels
from rig.oracle.check import Checker, Finding
from rig.oracle.expect import World
from rig.oracle.observations import (
    DocView,
    GatewayView,
    Held,
    Observation,
    PrincipalChange,
    SyncSnapshot,
    WriteAttempt,
    is_server_refusal,
    refusal_status,
    write_jsonl,
)
from rig.oracle.routing import DEFAULT_COLLECTION, Principal, RoutingSpec
from rig.replicator import EventKind, ReplicationEvent
from rig.replicator.clients import DEFAULT_RELEASE, ClientRelease, client_release
from rig.replicator.versions import Version


def password(user: str) -> str:
    return f"{user}-pw"


class Harness:
    """One case on one database.

    `spec` shapes the case (its users, roles and document types) and is the
    reference the findings are checked against; with `against_spec=False` the
    findings compare delivery with the gateway's own view instead (recorded at
    every sync), while the spec still answers :meth:`expected`.

    Its devices behave as Couchbase Lite release `cbl`. A version-vector release (4.1) names a
    revision by its current version (`<hex>@<source>`) where the gateway, REST writes and the
    oracle use rev-tree IDs; the harness learns the pair from the gateway's `_raw` (`_sync.rev`
    and the `_vv` xattr) after every write and records rev-tree IDs, so the oracle judges every
    release by the same names.
    """

    def __init__(self, admin: AdminClient, public_url: str, db: str, spec: RoutingSpec, *,
                 against_spec: bool = True, gateway_view: bool = False, timeout: float = 60.0,
                 cbl: str | ClientRelease = DEFAULT_RELEASE) -> None:
        self.admin = admin
        self.public_url = public_url
        self.db = db
        self.spec = spec
        self.gateway_view = gateway_view or not against_spec
        self.timeout = timeout
        self.observations: list[Observation] = []
        self.checker = Checker(spec if against_spec else None)
        self.shadow = self.checker if against_spec else Checker(spec)
        self.devices: dict[str, VirtualDevice] = {}
        self._docs: set[str] = set()
        self._refused: set[tuple[str, str]] = set()
        """(doc, rev) a device push saw answered with a 5xx: recorded once, however often it is retried."""
        self.cbl = client_release(cbl)
        self._rev_ids: dict[str, str] = {}
        """A version (`<hex>@<source>`) -> the rev-tree ID the gateway gave the same revision."""
        self._t0 = time.monotonic()
        self.tap: Tap | None = None
        """Traces what the gateway sends every awake device (see `awake`), for reproductions."""
        self.collections = spec.collections
        """The spec's collections: with named ones, documents are recorded as `scope.name/docID` (rig.oracle.expect)."""
        self.named = self.collections != (DEFAULT_COLLECTION,)

    def _doc(self, collection: str | None, doc_id: str) -> tuple[str, str]:
        """(keyspace, recorded document name) of `doc_id` in `collection` (the spec's first one by default)."""
        collection = collection or self.collections[0]
        if collection not in self.collections:
            raise RigError(f"collection {collection!r} is not one of the spec's {self.collections}")
        keyspace = self.db if collection == DEFAULT_COLLECTION else f"{self.db}.{collection}"
        return keyspace, self.world.doc_id(collection, doc_id)

    def _channel_fields(self, name: str, channels: Sequence[str]) -> dict[str, Any]:
        fields = self.spec.channel_fields(Principal(name, tuple(channels)))
        return {"admin_channels": fields["admin_channels"]} if "admin_channels" in fields else \
            {"admin_channels": None, "collection_access": fields["collection_access"]}

    # Recording ---------------------------------------------------------------------------------
    def _record(self, obs: Observation) -> None:
        self.observations.append(obs)
        self.checker.feed(obs)
        if self.shadow is not self.checker:
            self.shadow.feed(obs)

    def _t(self) -> float:
        return round(time.monotonic() - self._t0, 4)

    @property
    def world(self) -> World:
        """The spec's world now (the oracle's expectation, never the gateway's)."""
        assert self.shadow.world is not None
        return self.shadow.world

    def expected_rejections(self) -> list[str]:
        """The rules by which the spec rejected the writes so far, in order."""
        return [d.rule or "" for _, d in self.shadow.decisions if not d.accepted]

    def findings(self) -> list[Finding]:
        return list(self.checker.findings)

    def save(self, path: Path) -> None:
        write_jsonl(path, self.observations)

    def expected(self, user: str) -> set[str]:
        """Documents (live or tombstoned) `user` may see now, by the spec."""
        world = self.world
        return {d for d, rev in world.current.items() if world.sees(user, rev)}

    # Revision names (version-vector releases) ------------------------------------------------------
    def _learn(self, doc_id: str, keyspace: str | None = None) -> None:
        """Pair the document's current version with its current rev-tree ID (tombstones too)."""
        if not self.cbl.uses_version_vectors:
            return
        try:
            raw = self.admin.raw(keyspace or self.db, doc_id)
        except AdminApiError:
            return
        xattrs = raw.get("_xattrs") or {}
        sync, vv = raw.get("_sync") or xattrs.get("_sync") or {}, xattrs.get("_vv") or raw.get("_vv")
        rev = sync.get("rev")
        rev_id = rev.get("rev") if isinstance(rev, dict) else rev
        if not vv or not rev_id:
            return
        # `_vv` values are little-endian CAS hex; a device names the same version big-endian.
        value = int.from_bytes(int(str(vv["ver"]), 16).to_bytes(8, "big"), "little")
        self._rev_ids[str(Version(value, str(vv["src"])))] = str(rev_id)

    def rev_id(self, doc_id: str, rev: str, keyspace: str | None = None) -> str:
        """`rev` as the oracle names it: a device's version mapped to the gateway's rev-tree ID when known
        (an unknown version stays as it is, so the oracle reports it rather than guessing)."""
        if not self.cbl.uses_version_vectors or "@" not in rev:
            return rev
        if rev not in self._rev_ids:
            self._learn(doc_id, keyspace)
        return self._rev_ids.get(rev, rev)

    # Principals --------------------------------------------------------------------------------
    def create_principals(self) -> None:
        """Create the spec's roles and users on the gateway (password: '<name>-pw')."""
        for role in self.spec.roles.values():
            self.put_role(role.name, role.channels)
        for user in self.spec.users.values():
            self.put_user(user.name, user.channels, user.roles)

    def put_user(self, name: str, channels: Sequence[str] = (), roles: Sequence[str] = (),
                 disabled: bool = False) -> None:
        self.admin.put_user(self.db, name, password=password(name), admin_roles=roles, disabled=disabled,
                            **self._channel_fields(name, channels))
        self._record(PrincipalChange("user", name, tuple(channels), tuple(roles), disabled, self._t()))

    def delete_user(self, name: str) -> None:
        self.admin.delete_user(self.db, name)
        self._record(PrincipalChange("delete_user", name, t=self._t()))

    def put_role(self, name: str, channels: Sequence[str]) -> None:
        fields = self._channel_fields(name, channels)
        self.admin.put_role(self.db, name, admin_channels=fields["admin_channels"] or (),
                            collection_access=fields.get("collection_access"))
        self._record(PrincipalChange("role", name, tuple(channels), t=self._t()))

    def delete_role(self, name: str) -> None:
        self.admin.delete_role(self.db, name)
        self._record(PrincipalChange("delete_role", name, t=self._t()))

    # Writes through REST -----------------------------------------------------------------------
    def _current_rev(self, keyspace: str, doc_id: str) -> str | None:
        try:
            return str(self.admin.get_document(keyspace, doc_id)["_rev"])
        except AdminApiError:
            return None

    def write(self, doc_id: str, body: Mapping[str, Any], *, user: str | None = None,
              collection: str | None = None) -> bool:
        """Write as `user` over the public REST API, or as admin when user is None. True when accepted."""
        keyspace, recorded = self._doc(collection, doc_id)
        rev = self._current_rev(keyspace, doc_id)
        payload = {**dict(body), **({"_rev": rev} if rev else {})}
        self._docs.add(recorded)
        try:
            if user is None:
                new_rev = self.admin.put_document(keyspace, doc_id, payload)
            else:
                client = PublicClient(self.public_url, keyspace, username=user, password=password(user))
                try:
                    new_rev = client.put_document(doc_id, payload)
                finally:
                    client.close()
        except AdminApiError as exc:
            self._record(WriteAttempt(recorded, user, False, dict(body), status=exc.status, detail=exc.body[:200],
                                      t=self._t()))
            return False
        self._learn(doc_id, keyspace)
        self._record(WriteAttempt(recorded, user, True, dict(body), rev=new_rev, t=self._t()))
        return True

    def delete(self, doc_id: str, *, user: str | None = None, collection: str | None = None) -> bool:
        keyspace, recorded = self._doc(collection, doc_id)
        rev = self._current_rev(keyspace, doc_id)
        if rev is None:
            raise RigError(f"cannot delete {doc_id!r}: no current revision")
        try:
            if user is None:
                new_rev = self.admin.put_document(keyspace, doc_id, {"_rev": rev, "_deleted": True})
            else:
                client = PublicClient(self.public_url, keyspace, username=user, password=password(user))
                try:
                    new_rev = client.delete_document(doc_id, rev)
                finally:
                    client.close()
        except AdminApiError as exc:
            self._record(WriteAttempt(recorded, user, False, None, True, status=exc.status, detail=exc.body[:200],
                                      t=self._t()))
            return False
        self._learn(doc_id, keyspace)
        self._record(WriteAttempt(recorded, user, True, None, True, rev=new_rev, t=self._t()))
        return True

    # Devices -----------------------------------------------------------------------------------
    def device(self, user: str, name: str | None = None) -> VirtualDevice:
        name = name or f"{user}-{sum(1 for d in self.devices.values() if d.credentials.username == user) + 1}"
        device = VirtualDevice(f"{self.public_url}/{self.db}", Credentials(user, password(user)), name=name,
                               cbl=self.cbl, collections=self.collections)
        self.devices[name] = device
        return device

    def push(self, device: VirtualDevice) -> None:
        """Push the device's pending documents; every outcome is recorded as a write by the device's user."""
        pending = {self.world.doc_id(c, d.doc_id): (None if d.deleted else d.properties(), d.deleted)
                   for c in self.collections for d in device.store.collection(c).pending()}
        if not pending:
            return
        self._docs.update(pending)
        user = device.credentials.username
        events: list[ReplicationEvent] = []
        try:
            device.sync(pull=False, timeout=self.timeout, observer=events.append)
        except AuthenticationRejected:
            self._record(SyncSnapshot(device.name, user, "auth_rejected", t=self._t()))
            return
        for event in events:
            doc_id = self.world.doc_id(event.collection, event.doc_id)
            if doc_id not in pending:
                continue
            status = None if event.kind is EventKind.PUSHED else refusal_status(event.detail)
            if event.kind is EventKind.ERROR and is_server_refusal(status):
                # The gateway did not store it (e.g. the sync function threw): a refusal, judged like a 403.
                if (doc_id, event.rev) in self._refused:
                    continue
                self._refused.add((doc_id, event.rev))
            elif event.kind not in (EventKind.PUSHED, EventKind.REJECTED):
                continue
            body, deleted = pending[doc_id]
            body = {k: v for k, v in body.items() if not k.startswith("_")} if body is not None else None
            accepted = event.kind is EventKind.PUSHED
            rev = self.rev_id(event.doc_id, event.rev, self._doc(event.collection, event.doc_id)[0]) \
                if accepted and event.rev else None
            self._record(WriteAttempt(doc_id, user, accepted, body, deleted,
                                      rev=rev, device=device.name,
                                      status=status, detail=event.detail, t=self._t()))

    def sync(self, device: VirtualDevice) -> str:
        """Push what is pending, wait for the changes feed, pull one-shot, record the device's store."""
        self.push(device)
        for collection in self.collections:
            self.admin.wait_for_changes_feed(self._doc(collection, "")[0])
        user = device.credentials.username
        try:
            device.sync(push=False, timeout=self.timeout)
        except AuthenticationRejected:
            self._record(SyncSnapshot(device.name, user, "auth_rejected", t=self._t()))
            return "auth_rejected"
        self.snapshot(device)
        return "caught_up"

    def snapshot(self, device: VirtualDevice) -> None:
        """Record the device's whole store as caught up (after `sync`, or after `settle` of an awake device)."""
        held = {self.world.doc_id(c, d.doc_id): Held(self.rev_id(d.doc_id, d.rev, self._doc(c, d.doc_id)[0]),
                                                     d.deleted, d.pending)
                for c in self.collections for d in device.store.collection(c).docs.values()}
        view = self._view(device.credentials.username) if self.gateway_view else None
        self._record(SyncSnapshot(device.name, device.credentials.username, "caught_up", held, view, self._t()))

    def awake(self, device: VirtualDevice, tap: Tap | None = None) -> AwakeDevice:
        """Start the device's continuous pull on a thread (caught up when this returns); `stop()` it to sleep."""
        return AwakeDevice(device, timeout=self.timeout, tap=tap or self.tap).start()

    def settle(self, *awake: AwakeDevice) -> None:
        """Wait until the gateway's changes feed has every write so far and each awake device is quiet."""
        for collection in self.collections:
            self.admin.wait_for_changes_feed(self._doc(collection, "")[0])
        for device in awake:
            device.settle()

    def anonymous_sync(self, name: str = "anonymous") -> str:
        """What a client without credentials reads (public REST `_changes` with the documents), recorded as a
        sync of the user GUEST: the spec names no guest, so every document it gets is a leak. With named
        collections, each collection's feed (`/db.scope.name/_changes`), documents recorded `scope.name/ID`."""
        held: dict[str, Held] = {}
        for collection in self.collections:
            keyspace = self._doc(collection, "")[0]
            self.admin.wait_for_changes_feed(keyspace)
            client = PublicClient(self.public_url, keyspace, timeout=self.timeout)
            try:
                rows = client.changes(include_docs="true", style="main_only")["results"]
            except AdminApiError as exc:
                if exc.status not in (401, 403):
                    raise
                self._record(SyncSnapshot(name, "GUEST", "auth_rejected", t=self._t()))
                return "auth_rejected"
            finally:
                client.close()
            held.update({self.world.doc_id(collection, str(row["id"])):
                         Held(str(row["changes"][0]["rev"]), bool(row.get("deleted")), False)
                         for row in rows if not str(row["id"]).startswith("_")})
        view = self._view("GUEST") if self.gateway_view else None
        self._record(SyncSnapshot(name, "GUEST", "caught_up", held, view, self._t()))
        return "caught_up"

    def _view(self, user: str) -> GatewayView:
        """The gateway's own routing of every document written so far and the user's channels. With
        named collections, named as the oracle's world names them (`scope.name/ID`, `scope.name:channel`):
        Sync Gateway keeps each collection's channels apart (`collection_access.SCOPE.NAME.all_channels`)."""
        docs: dict[str, DocView] = {}
        for recorded in sorted(self._docs):
            collection = self.world.collection_of(recorded)
            doc_id = recorded.partition("/")[2] if self.named else recorded
            try:
                raw = self.admin.raw(self._doc(collection, doc_id)[0], doc_id)
            except AdminApiError:
                continue
            sync = raw.get("_sync") or raw.get("_xattrs", {}).get("_sync") or {}
            channels = frozenset(self._channel(collection, name)
                                 for name, removal in (sync.get("channels") or {}).items() if removal is None)
            rev = sync.get("rev")
            rev_id = rev.get("rev") if isinstance(rev, dict) else rev
            docs[recorded] = DocView(str(rev_id), bool(sync.get("flags", 0) & 1), channels)
        info = self.admin.user(self.db, user)
        held = {self._channel(c, name) for c in self.collections for name in user_channels(info, c)}
        return GatewayView(docs, frozenset(held))

    def _channel(self, collection: str, channel: str) -> str:
        return f"{collection}:{channel}" if self.named else channel
