"""Who may see which revision, when: the spec's world replayed step by step (pure, no I/O).

:class:`World` applies principal changes and accepted writes in the order they
happened, decides whether a write must be accepted (:meth:`World.decide`) and
answers, for any user, which channels they hold now and through which rule
(:meth:`World.grants`), whether they may see a revision now (:meth:`World.sees`)
and whether they ever could (:meth:`World.ever_visible`).

A spec whose types live in named collections (docs/clients.md, "Named collections") is replayed
with documents named ``scope.name/docID`` and channels named ``scope.name:channel``: Sync Gateway
keeps channel access per collection, so a user's and a role's static channels (and the public
channel and ``*``) hold in every collection, an ``access()`` grant only in the collection of the
document that makes it, and a document is routed by its collection's types only (any other type
there is rejected, rule ``type``). A spec without collections keeps plain names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rig.oracle.routing import DEFAULT_COLLECTION, PUBLIC, STAR, RoutingSpec

Grants = dict[str, frozenset[str]]
"""channel -> the rules that give it (``user.ann.channels``, ``role.lead.channels``, ``membership.access``...)."""


@dataclass(frozen=True, slots=True)
class Revision:
    doc: str
    rev: str
    body: dict[str, Any] | None
    deleted: bool
    channels: frozenset[str]
    doc_type: str | None
    start: int
    """The step from which this revision is the document's current one."""
    device: str | None = None
    access: tuple[tuple[str, str, str], ...] = ()
    """(target user or role:name, channel, rule) granted by this revision."""
    roles: tuple[tuple[str, str, str], ...] = ()
    """(user, role, rule) granted by this revision."""


@dataclass(frozen=True, slots=True)
class Decision:
    accepted: bool
    rule: str | None = None
    """The rule that rejects the write (None when accepted)."""
    applied: tuple[str, ...] = ()
    """When accepted: the rules the spec checked and the write passed, in order
    (``note.immutable(owner)``, ``note.require_user({owner})``, ...); ``<type>.admin_write`` for an
    admin write (no user context, so no require rule applies), ``<type>.any_writer`` when the
    type has no write rule at all."""


@dataclass(slots=True)
class _User:
    channels: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    disabled: bool = False
    deleted: bool = False


@dataclass(slots=True)
class _History:
    entries: list[tuple[int, Grants]] = field(default_factory=list)


class World:
    """The state the spec implies after each observed event."""

    def __init__(self, spec: RoutingSpec) -> None:
        self.spec = spec
        self.named = spec.collections != (DEFAULT_COLLECTION,)
        """Named collections: qualified document and channel names (module docstring)."""
        self.step = 0
        self.users: dict[str, _User] = {u.name: _User(u.channels, u.roles) for u in spec.users.values()}
        self.roles: dict[str, tuple[str, ...]] = {r.name: r.channels for r in spec.roles.values()}
        self.current: dict[str, Revision] = {}
        self.history: dict[str, list[Revision]] = {}
        self._granting: set[str] = set()
        self._user_history: dict[str, _History] = {}
        self._grants_cache: dict[str, tuple[int, Grants]] = {}
        """user -> (step, grants): every change of state moves the step first, so a cached answer is current."""
        self._refresh()

    # Collections ------------------------------------------------------------------------------
    def doc_id(self, collection: str, doc_id: str) -> str:
        """The name the world gives a document of `collection`."""
        return f"{collection}/{doc_id}" if self.named else doc_id

    def collection_of(self, doc: str) -> str:
        if not self.named:
            return DEFAULT_COLLECTION
        collection, slash, _ = doc.partition("/")
        if not slash or collection not in self.spec.collections:
            raise ValueError(f"document {doc!r} names none of the spec's collections {self.spec.collections}")
        return collection

    def _everywhere(self, channel: str) -> list[str]:
        """A static channel: in every collection."""
        return [f"{c}:{channel}" for c in self.spec.collections] if self.named else [channel]

    def _in(self, collection: str, channel: str) -> str:
        return f"{collection}:{channel}" if self.named else channel

    # Principals ------------------------------------------------------------------------------
    def put_user(self, name: str, channels: tuple[str, ...], roles: tuple[str, ...], disabled: bool) -> None:
        self.step += 1
        self.users[name] = _User(channels, roles, disabled)
        self._refresh()

    def delete_user(self, name: str) -> None:
        self.step += 1
        self.users[name] = _User(deleted=True)
        self._refresh()

    def put_role(self, name: str, channels: tuple[str, ...]) -> None:
        self.step += 1
        self.roles[name] = channels
        self._refresh()

    def delete_role(self, name: str) -> None:
        self.step += 1
        self.roles.pop(name, None)
        self._refresh()

    def active(self, user: str) -> bool:
        state = self.users.get(user)
        return state is not None and not state.disabled and not state.deleted

    # Access -----------------------------------------------------------------------------------
    def user_roles(self, user: str) -> dict[str, set[str]]:
        """role -> rules that give it to `user`."""
        state = self.users.get(user)
        if state is None or state.deleted:
            return {}
        roles: dict[str, set[str]] = {r: {f"user.{user}.roles"} for r in state.roles}
        for doc_id in self._granting:
            for target, role, rule in self.current[doc_id].roles:
                if target == user:
                    roles.setdefault(role, set()).add(f"{rule} (doc {doc_id})")
        return roles

    def grants(self, user: str) -> Grants:
        """Every channel `user` holds now and the rules that give it ({} when disabled or deleted)."""
        cached = self._grants_cache.get(user)
        if cached is not None and cached[0] == self.step:
            return cached[1]
        result = self._grants(user)
        self._grants_cache[user] = (self.step, result)
        return result

    def _grants(self, user: str) -> Grants:
        if not self.active(user):
            return {}
        state = self.users[user]
        found: dict[str, set[str]] = {c: {"public"} for c in self._everywhere(PUBLIC)}
        for channel in state.channels:
            for name in self._everywhere(channel):
                found.setdefault(name, set()).add(f"user.{user}.channels")
        roles = self.user_roles(user)
        for role in roles:
            for channel in self.roles.get(role, ()):
                for name in self._everywhere(channel):
                    found.setdefault(name, set()).add(f"role.{role}.channels")
        targets = {user, *(f"role:{r}" for r in roles)}
        for doc_id in self._granting:
            for target, channel, rule in self.current[doc_id].access:
                if target in targets:
                    found.setdefault(channel, set()).add(f"{rule} (doc {doc_id})")
        return {c: frozenset(s) for c, s in found.items()}

    @staticmethod
    def _star(channel: str) -> str:
        """The `*` that covers `channel` (per collection when qualified)."""
        collection, colon, _ = channel.partition(":")
        return f"{collection}:{STAR}" if colon else STAR

    @classmethod
    def _visible(cls, grants: Mapping[str, object], channels: frozenset[str]) -> bool:
        return STAR in grants or any(c in grants or cls._star(c) in grants for c in channels)

    def sees(self, user: str, revision: Revision) -> bool:
        return self._visible(self.grants(user), revision.channels)

    def why(self, user: str, revision: Revision) -> str:
        """The rules through which `user` may see `revision` now ('' when they may not)."""
        grants = self.grants(user)
        if STAR in grants:
            return ", ".join(sorted(grants[STAR]))
        stars = {self._star(c) for c in revision.channels} & set(grants)
        if stars:
            return ", ".join(sorted({rule for star in stars for rule in grants[star]}))
        rules = sorted({rule for c in revision.channels if c in grants for rule in grants[c]})
        return ", ".join(rules)

    def ever_visible(self, user: str, doc: str, rev: str) -> Grants | None:
        """The grants through which `user` could see `doc`@`rev` while it was current, or None."""
        revisions = self.history.get(doc, [])
        for index, revision in enumerate(revisions):
            if revision.rev != rev:
                continue
            end = revisions[index + 1].start if index + 1 < len(revisions) else self.step + 1
            entries = self._user_history.get(user, _History()).entries
            for k, (start, grants) in enumerate(entries):
                until = entries[k + 1][0] if k + 1 < len(entries) else self.step + 1
                if start < end and until > revision.start and self._visible(grants, revision.channels):
                    return grants
        return None

    def _refresh(self) -> None:
        names = set(self.users) | set(self._user_history)
        for name in names:
            grants = self.grants(name)
            history = self._user_history.setdefault(name, _History())
            if not history.entries or history.entries[-1][1] != grants:
                history.entries.append((self.step, grants))

    # Writes -----------------------------------------------------------------------------------
    def live_body(self, doc: str) -> dict[str, Any] | None:
        current = self.current.get(doc)
        return None if current is None or current.deleted else current.body

    def decide(self, doc: str, writer: str | None, body: Mapping[str, Any] | None, deleted: bool) -> Decision:
        """Must the gateway accept this write now? `writer` None is an admin write."""
        spec = self.spec
        old = self.live_body(doc)
        src = old if deleted else body
        if src is None:
            return Decision(True)
        if not deleted and old is not None and body is not None \
                and old.get(spec.type_field) != body.get(spec.type_field):
            return Decision(False, "type")
        doc_type = spec.doc_type(src)
        collection = self.collection_of(doc)
        if doc_type is None or doc_type.collection != collection:
            return Decision(False, "type")
        applied: list[str] = []
        if not deleted and old is not None and body is not None:
            for name in doc_type.immutable:
                applied.append(doc_type.rule(f"immutable({name})"))
                if old.get(name) != body.get(name):
                    return Decision(False, applied[-1])
        grants = self.grants(writer) if writer is not None else {}
        roles = self.user_roles(writer) if writer is not None else {}
        for rule in doc_type.require:
            values = rule.value.expand(src)
            name = doc_type.rule(rule.name)
            if not values:
                return Decision(False, name)
            if writer is None:
                continue
            applied.append(name)
            held: set[str] | Mapping[str, object] = (
                {writer} if rule.kind == "user" else grants if rule.kind == "access" else roles)
            if rule.kind == "access":
                values = [self._in(collection, v) for v in values]  # access in this document's collection
            if not any(v in held for v in values):
                return Decision(False, name)
        if writer is None:
            applied.append(doc_type.rule("admin_write"))
        return Decision(True, applied=tuple(applied) or (doc_type.rule("any_writer"),))

    def apply_write(self, doc: str, rev: str, body: dict[str, Any] | None, deleted: bool,
                    device: str | None = None) -> Revision:
        """Record an accepted write as the document's current revision."""
        self.step += 1
        spec = self.spec
        old = self.live_body(doc)
        src = old if deleted else body
        doc_type = spec.doc_type(src)
        collection = self.collection_of(doc)
        if doc_type is not None and doc_type.collection != collection:
            doc_type = None  # not a type of this collection: it routes nowhere (the gateway refuses it)
        access: list[tuple[str, str, str]] = []
        roles: list[tuple[str, str, str]] = []
        if not deleted and doc_type is not None and body is not None:
            for grant in doc_type.access:
                rule = doc_type.rule("access")
                access += [(t, self._in(collection, c), rule) for t in grant.to.expand(body)
                           for ch in grant.channels for c in ch.expand(body)]
            for role_grant in doc_type.roles:
                rule = doc_type.rule("roles")
                roles += [(t, r, rule) for t in role_grant.to.expand(body) for rt in role_grant.roles
                          for r in rt.expand(body)]
        channels = frozenset(self._in(collection, c) for c in spec.channels_of(src)) if doc_type else frozenset()
        revision = Revision(doc, rev, None if deleted else body, deleted, channels,
                            doc_type.name if doc_type else None, self.step, device, tuple(access), tuple(roles))
        had_grants = doc in self._granting
        self.current[doc] = revision
        self.history.setdefault(doc, []).append(revision)
        if access or roles:
            self._granting.add(doc)
        else:
            self._granting.discard(doc)
        if had_grants or access or roles:
            self._refresh()
        return revision

    def written_by(self, doc: str, rev: str) -> str | None:
        for revision in self.history.get(doc, []):
            if revision.rev == rev:
                return revision.device
        return None

    def known(self, doc: str, rev: str) -> bool:
        return any(r.rev == rev for r in self.history.get(doc, []))
