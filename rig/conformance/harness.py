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
from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, PublicClient
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
from rig.oracle.routing import RoutingSpec
from rig.replicator import EventKind, ReplicationEvent
from rig.replicator.clients import DEFAULT_RELEASE, client_release


def password(user: str) -> str:
    return f"{user}-pw"


class Harness:
    """One case on one database.

    `spec` shapes the case (its users, roles and document types) and is the
    reference the findings are checked against; with `against_spec=False` the
    findings compare delivery with the gateway's own view instead (recorded at
    every sync), while the spec still answers :meth:`expected`.
    """

    def __init__(self, admin: AdminClient, public_url: str, db: str, spec: RoutingSpec, *,
                 against_spec: bool = True, gateway_view: bool = False, timeout: float = 60.0,
                 cbl: str = DEFAULT_RELEASE) -> None:
        self.admin = admin
        self.cbl = client_release(cbl).name
        """The Couchbase Lite release every device of the case emulates."""
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
        self._t0 = time.monotonic()

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

    # Principals --------------------------------------------------------------------------------
    def create_principals(self) -> None:
        """Create the spec's roles and users on the gateway (password: '<name>-pw')."""
        for role in self.spec.roles.values():
            self.put_role(role.name, role.channels)
        for user in self.spec.users.values():
            self.put_user(user.name, user.channels, user.roles)

    def put_user(self, name: str, channels: Sequence[str] = (), roles: Sequence[str] = (),
                 disabled: bool = False) -> None:
        self.admin.put_user(self.db, name, password=password(name), admin_channels=channels, admin_roles=roles,
                            disabled=disabled)
        self._record(PrincipalChange("user", name, tuple(channels), tuple(roles), disabled, self._t()))

    def delete_user(self, name: str) -> None:
        self.admin.delete_user(self.db, name)
        self._record(PrincipalChange("delete_user", name, t=self._t()))

    def put_role(self, name: str, channels: Sequence[str]) -> None:
        self.admin.put_role(self.db, name, admin_channels=channels)
        self._record(PrincipalChange("role", name, tuple(channels), t=self._t()))

    def delete_role(self, name: str) -> None:
        self.admin.delete_role(self.db, name)
        self._record(PrincipalChange("delete_role", name, t=self._t()))

    # Writes through REST -----------------------------------------------------------------------
    def _current_rev(self, doc_id: str) -> str | None:
        try:
            return str(self.admin.get_document(self.db, doc_id)["_rev"])
        except AdminApiError:
            return None

    def write(self, doc_id: str, body: Mapping[str, Any], *, user: str | None = None) -> bool:
        """Write as `user` over the public REST API, or as admin when user is None. True when accepted."""
        rev = self._current_rev(doc_id)
        payload = {**dict(body), **({"_rev": rev} if rev else {})}
        self._docs.add(doc_id)
        try:
            if user is None:
                new_rev = self.admin.put_document(self.db, doc_id, payload)
            else:
                client = PublicClient(self.public_url, self.db, username=user, password=password(user))
                try:
                    new_rev = client.put_document(doc_id, payload)
                finally:
                    client.close()
        except AdminApiError as exc:
            self._record(WriteAttempt(doc_id, user, False, dict(body), status=exc.status, detail=exc.body[:200],
                                      t=self._t()))
            return False
        self._record(WriteAttempt(doc_id, user, True, dict(body), rev=new_rev, t=self._t()))
        return True

    def delete(self, doc_id: str, *, user: str | None = None) -> bool:
        rev = self._current_rev(doc_id)
        if rev is None:
            raise RigError(f"cannot delete {doc_id!r}: no current revision")
        try:
            if user is None:
                new_rev = self.admin.put_document(self.db, doc_id, {"_rev": rev, "_deleted": True})
            else:
                client = PublicClient(self.public_url, self.db, username=user, password=password(user))
                try:
                    new_rev = client.delete_document(doc_id, rev)
                finally:
                    client.close()
        except AdminApiError as exc:
            self._record(WriteAttempt(doc_id, user, False, None, True, status=exc.status, detail=exc.body[:200],
                                      t=self._t()))
            return False
        self._record(WriteAttempt(doc_id, user, True, None, True, rev=new_rev, t=self._t()))
        return True

    # Devices -----------------------------------------------------------------------------------
    def device(self, user: str, name: str | None = None) -> VirtualDevice:
        name = name or f"{user}-{sum(1 for d in self.devices.values() if d.credentials.username == user) + 1}"
        device = VirtualDevice(f"{self.public_url}/{self.db}", Credentials(user, password(user)), name=name,
                               cbl=self.cbl)
        self.devices[name] = device
        return device

    def push(self, device: VirtualDevice) -> None:
        """Push the device's pending documents; every outcome is recorded as a write by the device's user."""
        pending = {d.doc_id: (None if d.deleted else d.properties(), d.deleted) for d in device.store.pending()}
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
            if event.doc_id not in pending:
                continue
            status = None if event.kind is EventKind.PUSHED else refusal_status(event.detail)
            if event.kind is EventKind.ERROR and is_server_refusal(status):
                # The gateway did not store it (e.g. the sync function threw): a refusal, judged like a 403.
                if (event.doc_id, event.rev) in self._refused:
                    continue
                self._refused.add((event.doc_id, event.rev))
            elif event.kind not in (EventKind.PUSHED, EventKind.REJECTED):
                continue
            body, deleted = pending[event.doc_id]
            body = {k: v for k, v in body.items() if not k.startswith("_")} if body is not None else None
            accepted = event.kind is EventKind.PUSHED
            self._record(WriteAttempt(event.doc_id, user, accepted, body, deleted,
                                      rev=event.rev or None if accepted else None, device=device.name,
                                      status=status, detail=event.detail, t=self._t()))

    def sync(self, device: VirtualDevice) -> str:
        """Push what is pending, wait for the changes feed, pull one-shot, record the device's store."""
        self.push(device)
        self.admin.wait_for_changes_feed(self.db)
        user = device.credentials.username
        try:
            device.sync(push=False, timeout=self.timeout)
        except AuthenticationRejected:
            self._record(SyncSnapshot(device.name, user, "auth_rejected", t=self._t()))
            return "auth_rejected"
        held = {d.doc_id: Held(d.rev, d.deleted, d.pending) for d in device.store.docs.values()}
        view = self._view(user) if self.gateway_view else None
        self._record(SyncSnapshot(device.name, user, "caught_up", held, view, self._t()))
        return "caught_up"

    def anonymous_sync(self, name: str = "anonymous") -> str:
        """What a client without credentials reads (public REST `_changes` with the documents), recorded as a
        sync of the user GUEST: the spec names no guest, so every document it gets is a leak."""
        self.admin.wait_for_changes_feed(self.db)
        client = PublicClient(self.public_url, self.db, timeout=self.timeout)
        try:
            rows = client.changes(include_docs="true", style="main_only")["results"]
        except AdminApiError as exc:
            if exc.status not in (401, 403):
                raise
            self._record(SyncSnapshot(name, "GUEST", "auth_rejected", t=self._t()))
            return "auth_rejected"
        finally:
            client.close()
        held = {str(row["id"]): Held(str(row["changes"][0]["rev"]), bool(row.get("deleted")), False)
                for row in rows if not str(row["id"]).startswith("_")}
        view = self._view("GUEST") if self.gateway_view else None
        self._record(SyncSnapshot(name, "GUEST", "caught_up", held, view, self._t()))
        return "caught_up"

    def _view(self, user: str) -> GatewayView:
        docs: dict[str, DocView] = {}
        for doc_id in sorted(self._docs):
            try:
                raw = self.admin.raw(self.db, doc_id)
            except AdminApiError:
                continue
            sync = raw.get("_sync") or raw.get("_xattrs", {}).get("_sync") or {}
            channels = frozenset(name for name, removal in (sync.get("channels") or {}).items() if removal is None)
            rev = sync.get("rev")
            rev_id = rev.get("rev") if isinstance(rev, dict) else rev
            docs[doc_id] = DocView(str(rev_id), bool(sync.get("flags", 0) & 1), channels)
        info = self.admin.user(self.db, user)
        return GatewayView(docs, frozenset(info.get("all_channels") or ()))
