"""Findings: every place where what devices hold, or what the gateway accepted, differs from the oracle.

Pure. :class:`Checker` consumes observations one at a time (a load run can
stream them); :func:`check` runs it over a finished list. With a spec, the
expectation is the spec's (:class:`rig.oracle.expect.World`); without one, it is
the gateway's own view recorded in each sync snapshot (``_raw`` channels and the
user's ``all_channels``), so only delivery is checked.

Revisions have two names: a rev-tree ID (``2-ab``: Couchbase Lite 3.3 and 3.4 devices, REST writes)
and a version (``<hex>@<source>``: Couchbase Lite 4.1 devices). Writes and snapshots are recorded
under the name the device uses; the gateway's pairs (:class:`RevisionNames`, the current revision of
each document) let a device be judged under either name. A version the gateway made for a
rev-tree write (and a rev-tree ID the gateway made for a 4.1 device's write) is known only through
its pair: when a snapshot shows one without a pair, the oracle cannot tell which revision it is; such
a copy counts as current only if it is paired (never: stale), and as a leak only if the user could
never see any revision of the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from rig.oracle.expect import Decision, World
from rig.oracle.observations import Observation, PrincipalChange, RevisionNames, SyncSnapshot, WriteAttempt
from rig.oracle.routing import STAR, RoutingSpec


class Kind(Enum):
    LEAK = "leak"
    """The device holds a revision its user never was allowed to see."""
    MISS = "miss"
    """The user may see the current revision; the caught-up device lacks the document."""
    STALE = "stale"
    """The device holds an older revision than the current one it may see."""
    REVOCATION_NOT_APPLIED = "revocation_not_applied"
    """The user lost the document (revocation, left a role, doc left the channel); the device still holds it."""
    WRITE_ACCEPTED = "write_accepted"
    """The gateway accepted a write the spec rejects."""
    WRITE_REJECTED = "write_rejected"
    """The gateway rejected a write the spec accepts."""
    SYNC_ALLOWED = "sync_allowed"
    """A disabled, deleted or unknown user replicated."""
    SYNC_REFUSED = "sync_refused"
    """An active user could not replicate."""
    ROUTING = "routing"
    """The gateway put the current revision in other channels than the spec says (seen in its own view)."""


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    doc: str
    rev: str
    user: str
    device: str
    rule: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(Kind(data["kind"]), data["doc"], data["rev"], data["user"], data["device"], data["rule"],
                   data.get("detail", ""))

    def __str__(self) -> str:
        where = f"{self.doc}@{self.rev}" if self.doc else "-"
        return (f"{self.kind.value}: {where} user={self.user or '-'} device={self.device or '-'} "
                f"rule={self.rule}" + (f" ({self.detail})" if self.detail else ""))


_BY_DOC = re.compile(r"^(.*) \(doc (.+)\)$")
_BY_USER = re.compile(r"^user\.(.+)\.(channels|roles)$")


def general_rules(rules: Iterable[str]) -> tuple[str, str]:
    """Grant provenances (``membership.access (doc m-bob-red)``, ``user.bob.channels``) as the spec's
    rules (``membership.access``, ``user.channels``), so that findings aggregate by rule, with the
    documents and users they went through as a detail suffix (`` (via doc m-bob-red)``)."""
    names: set[str] = set()
    where: list[str] = []
    for rule in rules:
        if not rule:
            continue
        by_doc, by_user = _BY_DOC.match(rule), _BY_USER.match(rule)
        if by_doc:
            names.add(by_doc[1])
            note = f"doc {by_doc[2]}"
        elif by_user:
            names.add(f"user.{by_user[2]}")
            note = f"user {by_user[1]}"
        else:
            names.add(rule)
            note = ""
        if note and note not in where:
            where.append(note)
    return ", ".join(sorted(names)), (f" (via {', '.join(sorted(where))})" if where else "")


class Checker:
    """Feed observations in order; collect findings."""

    def __init__(self, spec: RoutingSpec | None) -> None:
        self.world = World(spec) if spec is not None else None
        self.findings: list[Finding] = []
        self.decisions: list[tuple[WriteAttempt, Decision]] = []
        """Every write with the spec's decision on it (spec mode only)."""
        self._own: set[tuple[str, str, str]] = set()
        self._routed: set[tuple[str, str]] = set()
        """(doc, rev) whose channels in a gateway view were compared with the spec's (spec mode)."""
        self._seen: dict[str, set[tuple[str, str]]] = {}
        """Spec-less mode: (doc, rev) each user was shown visible by the gateway's view."""
        self._names: dict[str, tuple[str, str]] = {}
        """doc -> (rev-tree ID, version) of one revision, as the gateway paired them (RevisionNames)."""

    def feed(self, obs: Observation) -> list[Finding]:
        before = len(self.findings)
        if isinstance(obs, PrincipalChange):
            self._principal(obs)
        elif isinstance(obs, WriteAttempt):
            self._write(obs)
        elif isinstance(obs, RevisionNames):
            self._names.update(obs.docs)
        else:
            self._sync(obs)
        return self.findings[before:]

    # Principals and writes --------------------------------------------------------------------
    def _principal(self, obs: PrincipalChange) -> None:
        world = self.world
        if world is None:
            return
        if obs.op == "user":
            world.put_user(obs.name, obs.channels, obs.roles, obs.disabled)
        elif obs.op == "delete_user":
            world.delete_user(obs.name)
        elif obs.op == "role":
            world.put_role(obs.name, obs.channels)
        else:
            world.delete_role(obs.name)

    def _write(self, obs: WriteAttempt) -> None:
        if obs.accepted and obs.rev and obs.device:
            self._own.add((obs.device, obs.doc, obs.rev))
        world = self.world
        if world is None:
            return
        decision = world.decide(obs.doc, obs.writer, obs.body, obs.deleted)
        self.decisions.append((obs, decision))
        writer = obs.writer or "(admin)"
        device = obs.device or ""
        if obs.accepted and not decision.accepted:
            self.findings.append(Finding(Kind.WRITE_ACCEPTED, obs.doc, obs.rev or "", writer, device,
                                         decision.rule or "?", "the spec rejects this write"))
        elif not obs.accepted and decision.accepted and obs.status != 409:
            self.findings.append(Finding(Kind.WRITE_REJECTED, obs.doc, obs.rev or "", writer, device,
                                         ", ".join(decision.applied) or "?",
                                         f"the spec accepts this write; gateway said {obs.status}: {obs.detail}"))
        if obs.accepted and obs.rev:
            world.apply_write(obs.doc, obs.rev, obs.body, obs.deleted, obs.device)

    # Revision names --------------------------------------------------------------------------
    def same_revision(self, doc: str, held: str, rev: str) -> bool:
        """`held` (as a device names it) and `rev` (as the write was recorded) are one revision: the
        same name, or a rev-tree ID and a version the gateway paired for `doc`."""
        if held == rev:
            return True
        pair = self._names.get(doc)
        return pair is not None and held in pair and rev in pair

    def _recorded_name(self, doc: str, rev: str) -> str:
        """`rev` under the name the run recorded for it (its pair's other name, when only that is known)."""
        world = self.world
        assert world is not None
        pair = self._names.get(doc)
        if pair is None or rev not in pair or world.known(doc, rev):
            return rev
        return pair[0] if rev == pair[1] else pair[1]

    def _was_visible(self, user: str, doc: str, rev: str) -> dict[str, frozenset[str]] | None:
        """The grants through which `user` could see `doc`@`rev`. For a name the run cannot place (a
        version the gateway made for a rev-tree write, or a rev-tree ID it made for a 4.1 device's
        write, unpaired): those of any revision of `doc`."""
        world = self.world
        assert world is not None
        rev = self._recorded_name(doc, rev)
        was = world.ever_visible(user, doc, rev)
        history = world.history.get(doc, [])
        other_names = "@" in rev or any("@" in r.rev for r in history)
        if was is None and other_names and not world.known(doc, rev):
            for revision in world.history.get(doc, []):
                was = world.ever_visible(user, doc, revision.rev)
                if was is not None:
                    break
        return was

    def _written_by(self, doc: str, rev: str) -> str | None:
        world = self.world
        assert world is not None
        return world.written_by(doc, self._recorded_name(doc, rev))

    # Snapshots --------------------------------------------------------------------------------
    def _sync(self, snap: SyncSnapshot) -> None:
        if self.world is not None:
            if snap.view is not None:
                self._routing_from_view(snap)
            if self._auth(snap):
                if snap.scope == "leaks":
                    self._leaks_only(snap)
                else:
                    self._delivery(snap)
        elif snap.view is not None and snap.outcome == "caught_up":
            self._delivery_from_view(snap)

    def _auth(self, snap: SyncSnapshot) -> bool:
        assert self.world is not None
        active = self.world.active(snap.user)
        if snap.outcome == "caught_up" and not active:
            state = self.world.users.get(snap.user)
            why = "unknown" if state is None else ("deleted" if state.deleted else "disabled")
            self.findings.append(Finding(Kind.SYNC_ALLOWED, "", "", snap.user, snap.device, f"user.{why}",
                                         f"a {why} user replicated"))
            return False
        if snap.outcome != "caught_up" and active:
            self.findings.append(Finding(Kind.SYNC_REFUSED, "", "", snap.user, snap.device,
                                         "user.active", f"an active user's sync ended: {snap.outcome}"))
        return snap.outcome == "caught_up"

    def _delivery(self, snap: SyncSnapshot) -> None:
        world = self.world
        assert world is not None
        user, device = snap.user, snap.device
        for doc_id, current in world.current.items():
            held = snap.docs.get(doc_id)
            if held is not None and held.pending:
                continue
            type_rule = f"{current.doc_type or 'type'}.channels"
            if world.sees(user, current):
                if held is None and not current.deleted:
                    via, where = general_rules(world.why(user, current).split(", "))
                    self._add(Kind.MISS, doc_id, current.rev, user, device, f"{type_rule} via {via}",
                              f"in {sorted(current.channels)}{where}")
                elif held is not None and not self.same_revision(doc_id, held.rev, current.rev):
                    via, where = general_rules(world.why(user, current).split(", "))
                    self._add(Kind.STALE, doc_id, held.rev, user, device, f"{type_rule} via {via}",
                              f"current is {current.rev}{where}")
                continue
            if held is None or held.deleted:
                continue
            was = self._was_visible(user, doc_id, held.rev)
            if was is None:
                if self._written_by(doc_id, held.rev) == device:
                    continue
                self._add(Kind.LEAK, doc_id, held.rev, user, device, type_rule,
                          f"spec channels {sorted(current.channels)}; user has {sorted(world.grants(user))}")
            else:
                named = self._recorded_name(doc_id, held.rev)
                if world.known(doc_id, named):
                    moved = current.channels != next(r.channels for r in world.history[doc_id] if r.rev == named)
                else:  # an unpaired version: which revision it is is unknown; did the document ever move?
                    moved = any(r.channels != current.channels for r in world.history[doc_id])
                lost, where = general_rules(
                    {rule for c, rules in was.items() if c not in world.grants(user) for rule in rules})
                rule = type_rule if moved or not lost else lost
                self._add(Kind.REVOCATION_NOT_APPLIED, doc_id, held.rev, user, device, rule,
                          ("document left the user's channels" if moved else "user lost access") + where)
        for doc_id, held in snap.docs.items():
            if doc_id not in world.current and not held.pending and not held.deleted \
                    and (device, doc_id, held.rev) not in self._own:
                self._add(Kind.LEAK, doc_id, held.rev, user, device, "unknown", "no such document was written")

    def _leaks_only(self, snap: SyncSnapshot) -> None:
        """A mid-run snapshot: whatever the device holds must have been visible to its user at some time."""
        world = self.world
        assert world is not None
        for doc_id, held in snap.docs.items():
            if held.pending or held.deleted:
                continue
            current = world.current.get(doc_id)
            if current is None:
                if (snap.device, doc_id, held.rev) not in self._own:
                    self._add(Kind.LEAK, doc_id, held.rev, snap.user, snap.device, "unknown",
                              "no such document was written")
            elif not world.sees(snap.user, current) and self._was_visible(snap.user, doc_id, held.rev) is None \
                    and self._written_by(doc_id, held.rev) != snap.device:
                self._add(Kind.LEAK, doc_id, held.rev, snap.user, snap.device,
                          f"{current.doc_type or 'type'}.channels",
                          f"spec channels {sorted(current.channels)}; user has {sorted(world.grants(snap.user))}")

    def _routing_from_view(self, snap: SyncSnapshot) -> None:
        """Spec mode with a gateway view: each current revision sits in exactly the spec's channels.

        Catches what delivery alone cannot, e.g. a tombstone routed nowhere, which a
        device receives as a removal of a deleted document, the same as a tombstone.
        """
        world = self.world
        assert world is not None and snap.view is not None
        for doc_id, dv in snap.view.docs.items():
            current = world.current.get(doc_id)
            if current is None or current.rev != dv.rev or (doc_id, dv.rev) in self._routed:
                continue
            self._routed.add((doc_id, dv.rev))
            if dv.channels != current.channels:
                self._add(Kind.ROUTING, doc_id, dv.rev, "", "", f"{current.doc_type or 'type'}.channels",
                          f"the gateway routes it to {sorted(dv.channels)}; the spec to {sorted(current.channels)}")

    def _delivery_from_view(self, snap: SyncSnapshot) -> None:
        assert snap.view is not None
        channels = snap.view.channels
        seen = self._seen.setdefault(snap.user, set())
        for doc_id, dv in snap.view.docs.items():
            held = snap.docs.get(doc_id)
            if held is not None and held.pending:
                continue
            # A named collection's document (`scope.name/ID`) and channels (`scope.name:x`): `*` per collection.
            star = f"{doc_id.partition('/')[0]}:{STAR}" if "/" in doc_id else STAR
            visible = star in channels or STAR in channels or bool(channels & dv.channels)
            if visible:
                seen.add((doc_id, dv.rev))
                if held is None and not dv.deleted:
                    self._add(Kind.MISS, doc_id, dv.rev, snap.user, snap.device, "gateway.channels",
                              f"doc in {sorted(dv.channels)}; user has {sorted(channels)}")
                elif held is not None and held.rev != dv.rev:
                    self._add(Kind.STALE, doc_id, held.rev, snap.user, snap.device, "gateway.channels",
                              f"current is {dv.rev}")
            elif held is not None and not held.deleted and (snap.device, doc_id, held.rev) not in self._own:
                kind = Kind.REVOCATION_NOT_APPLIED if (doc_id, held.rev) in seen else Kind.LEAK
                self._add(kind, doc_id, held.rev, snap.user, snap.device, "gateway.channels",
                          f"doc in {sorted(dv.channels)}; user has {sorted(channels)}")

    def _add(self, kind: Kind, doc: str, rev: str, user: str, device: str, rule: str, detail: str) -> None:
        self.findings.append(Finding(kind, doc, rev, user, device, rule or "?", detail))


def check(spec: RoutingSpec | None, observations: Iterable[Observation]) -> list[Finding]:
    """All findings over a finished run (spec None: against the gateway's own views)."""
    checker = Checker(spec)
    for obs in observations:
        checker.feed(obs)
    return checker.findings
