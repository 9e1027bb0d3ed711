"""A load run's workload drawn from a routing spec: principals, seeded grants, device writes. Pure.

The spec names document types, their channels, grants and write rules, but
not the users of a load run. :class:`RoutingWorkload` makes them up the same
way in every process (deterministic in the scenario):

- **users** ``user-0000`` ... in teams of ``team_size`` (team ids ``"0"``,
  ``"1"``, ...); each gets the static channels of ``user_channels``
  (templates over ``{user}`` and ``{team}``), the first user of each team the
  roles ``lead_roles``; every spec role is created with its channels;
- **grants**: for each type that carries ``access()`` grants (and no role
  grants), one document per user written by the admin at seeding, its grant
  target field set to the user and its other fields to the user's team; the
  second user of each team also joins the next team;
- **device writes** (:meth:`RoutingWorkload.write`): types without grants,
  their fields solved from the write rules so the spec accepts the write
  (``require user {F}``: the writer; ``require access P{F}S``: a channel the
  writer holds; other fields: one or two made-up values); a share of writes
  (``bad_write_share``) is refused by the spec on purpose, so the gateway must
  refuse it too. In turn: a new document breaking one rule (each rule of a
  type in turn: another owner, a channel the writer lacks, a role it does not
  have), an update of one of the device's documents breaking a rule whose
  field may change or changing its type, and a document of a type the spec
  lacks. Legitimate documents are a few per device, rewritten (channels move
  as their fields change), deleted (``delete_share`` of the edits) and written
  again later.

Three more kinds of edits attack what a device's own documents cannot (each
with its share of the edits; see docs/load-runs.md):

- **foreign writes** (``foreign_write_share``): a device updates, takes over
  (an immutable owner field set to itself) or deletes a *seeded* document of
  another user it holds, in turn. The spec refuses each whatever the timing:
  the owner never edits its seeded documents, so the revision the device
  extends is the gateway's;
- **guest grants** (``grant_change_at``): the admin seeds, for every device
  of a user who may write a grant type (a team lead), one grant document
  naming a guest from another team, and part way through the load phase
  updates half of them (the grant must stay) and deletes the others (it must
  go): principals change while devices sync. Guests never write into a team a
  guest grant gives them (their writes would race the grant);
- **stranded seeds** (``stranded_seed_share``): seeded documents owned by their
  user and a second owner, in a team neither belongs to (the spec lets the
  admin write them): both read them only through their user channels.

Types with role grants (``roles = [...]``) are never written: role changes
mid-run are left to the conformance cases.

A spec with named collections: each document goes to its type's collection and is named as the
oracle's world names it, ``scope.name/<type>.<...>`` (rig._collections); a document of a type the
spec lacks goes to the collection of the type it was made from. Write rules are solved with the
writer's channels in the document's collection (an ``access()`` grant holds in one collection only).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rig._collections import qualified, split
from rig.oracle.expect import World
from rig.oracle.guests import GuestGrants
from rig.oracle.names import type_of, user_name
from rig.oracle.observations import PrincipalChange, WriteAttempt
from rig.oracle.routing import DEFAULT_COLLECTION, PUBLIC, DocType, RoutingSpec, Template

_SINGLE = re.compile(r"^([^{}]*)\{([A-Za-z_][A-Za-z0-9_]*)\}([^{}]*)$")


def _weight(doc_type: DocType) -> float:
    shared = {f for r in doc_type.require if r.kind == "access" for f in r.value.fields}
    read_by_others = any(t.text == PUBLIC or shared & set(t.fields) for t in doc_type.channels)
    return 4.0 if read_by_others else 1.0


@dataclass(frozen=True, slots=True)
class Write:
    doc_id: str
    body: dict[str, Any] | None
    """None: a deletion."""
    bad: bool = False
    """Breaks a write rule on purpose (the spec rejects it)."""


@dataclass(slots=True)
class RoutingWorkload:
    spec: RoutingSpec
    users: int
    team_size: int = 5
    user_channels: tuple[str, ...] = ("user.{user}",)
    lead_roles: tuple[str, ...] | None = None
    """Roles of each team's first user; None: every role a write rule requires."""
    bad_write_share: float = 0.05
    docs_per_device: int = 4
    delete_share: float = 0.05
    foreign_write_share: float = 0.05
    stranded_seed_share: float = 0.1
    device_users: tuple[int, ...] = ()
    """The user index of each device ordinal (device key ``d<ordinal>``); no guest grants without it."""
    _world: World | None = field(default=None, init=False, repr=False)
    _kept: dict[str, dict[str, tuple[str, dict[str, Any] | None]]] = field(default_factory=dict, init=False,
                                                                          repr=False)
    """device -> slot -> (doc id, last body or None when deleted)."""
    _channels: set[str] | None = field(default=None, init=False, repr=False)
    _attacked: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    """type (or "type update") -> deliberate bad writes made of it so far (which rule the next one breaks)."""
    _bad_turns: int = field(default=0, init=False, repr=False)
    """Deliberate bad writes so far (which kind the next one is)."""
    _generation: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    """slot -> how many of its documents were left behind by a refused update."""
    _foreign_turns: int = field(default=0, init=False, repr=False)
    _guest_grants: GuestGrants | None = field(default=None, init=False, repr=False)

    # Who is who --------------------------------------------------------------------------------
    def team(self, index: int) -> str:
        return str(index // max(1, self.team_size))

    def teams_of(self, index: int) -> list[str]:
        teams = [self.team(index)]
        extra = str(int(teams[0]) + 1)
        if index % max(1, self.team_size) == 1 and int(extra) * self.team_size < self.users:
            teams.append(extra)
        return teams

    def roles_of(self, index: int) -> tuple[str, ...]:
        if index % max(1, self.team_size) != 0:
            return ()
        if self.lead_roles is not None:
            return self.lead_roles
        wanted = {r.value.text for t in self.spec.types.values() for r in t.require if r.kind == "role"}
        return tuple(sorted(r for r in wanted if r in self.spec.roles))

    def principals(self) -> list[PrincipalChange]:
        changes = [PrincipalChange("role", role.name, role.channels) for role in self.spec.roles.values()]
        for index in range(self.users):
            name = user_name(index)
            values = {"user": name, "team": self.team(index)}
            channels: list[str] = []
            for text in self.user_channels:
                channels += [c for c in Template(text).expand(values) if c not in channels]
            changes.append(PrincipalChange("user", name, tuple(channels), self.roles_of(index)))
        return changes

    def one_collection(self) -> bool:
        """Stranded seeds and guest grants are made for a spec in the default collection only (their
        channel arithmetic is by bare channel name)."""
        return self.spec.collections == (DEFAULT_COLLECTION,)

    def grant_types(self) -> list[DocType]:
        return [t for t in self.spec.types.values() if t.access and not t.roles]

    def writable_types(self) -> list[DocType]:
        return [t for t in self.spec.types.values() if not t.access and not t.roles]

    def grant_docs(self) -> list[tuple[str, dict[str, Any]]]:
        """(doc id, body) of the documents the admin writes at seeding to give users their teams."""
        docs = []
        for doc_type in self.grant_types():
            targets = {f for g in doc_type.access for f in g.to.fields}
            for index in range(self.users):
                name = user_name(index)
                for n, team in enumerate(self.teams_of(index)):
                    body: dict[str, Any] = {self.spec.type_field: doc_type.name}
                    for name_field in doc_type.placeholders():
                        body[name_field] = name if name_field in targets else team
                    docs.append((qualified(doc_type.collection, f"{doc_type.name}.{name}.{n}"), body))
        return docs

    def seed_world(self) -> World:
        """The spec's world after the principals and grants are in place (revisions made up)."""
        if self._world is None:
            world = World(self.spec)
            for change in self.principals():
                if change.op == "role":
                    world.put_role(change.name, change.channels)
                else:
                    world.put_user(change.name, change.channels, change.roles, change.disabled)
            for doc_id, body in self.grant_docs():
                world.apply_write(doc_id, "1-seed", body, False)
            self._world = world
        return self._world

    # Writes ------------------------------------------------------------------------------------
    def seed_writes(self, user_index: int, count: int, rng: random.Random) -> list[Write]:
        """Documents the admin writes for a user before the devices start (legitimate for that user)."""
        writes = []
        for n in range(count):
            doc_id = f"seed.{user_name(user_index)}.{n}"
            write = (self._stranded(user_index, doc_id, rng)
                     if self.one_collection() and rng.random() < self.stranded_seed_share else None)
            write = write or self._fresh(user_index, doc_id, rng, bad=False)
            if write is not None:
                writes.append(write)
        return writes

    def write(self, user_index: int, device_key: str, rng: random.Random,
              held: Mapping[str, Mapping[str, Any] | None] | None = None) -> Write | None:
        """The next edit of one device of `user_index` (None: nothing this user may write).
        `held`: the device's documents the gateway has as they are (None: deleted); without it the
        device writes only its own documents (no foreign writes)."""
        kept = self._kept.setdefault(device_key, {})
        if held is not None and rng.random() < self.foreign_write_share:
            foreign = self._foreign(user_index, held, rng)
            if foreign is not None:
                return foreign
        if rng.random() < self.bad_write_share:
            bad = self._bad(user_index, device_key, kept, rng, held)
            if bad is not None:
                return bad
        # Any live document of the device may be deleted, and a deleted one is written again as often:
        # a device makes only a few edits in a short run, and each delete and recreate attacks a rule.
        live = sorted(slot for slot, (_, body) in kept.items() if body is not None)
        if live and rng.random() < self.delete_share:
            slot = rng.choice(live)
            kept[slot] = (kept[slot][0], None)
            return Write(kept[slot][0], None)
        deleted = sorted(slot for slot, (_, body) in kept.items() if body is None)
        slot = rng.choice(deleted) if deleted and rng.random() < self.delete_share \
            else f"{device_key}.{rng.randrange(self.docs_per_device)}"
        previous = kept.get(slot)
        generation = self._generation.get(slot, 0)
        write = self._fresh(user_index, f"{slot}.g{generation}" if generation else slot, rng, bad=False,
                            previous=previous[1] if previous is not None else None,
                            doc_type=type_of(previous[0]) if previous is not None else None)
        if write is not None:
            kept[slot] = (write.doc_id, write.body)
        return write

    def _bad(self, user_index: int, device_key: str, kept: dict[str, tuple[str, dict[str, Any] | None]],
             rng: random.Random, held: Mapping[str, Mapping[str, Any] | None] | None = None) -> Write | None:
        """A write the spec refuses. In turn: a new document breaking a rule; an update of one of the
        device's documents breaking a rule of a field that may change, or changing its type; a
        document of a type the spec lacks. A refused update stays pending on the device, so its
        slot moves on to a new document id."""
        turn = self._bad_turns
        self._bad_turns = turn + 1
        if turn % 3 == 1:
            # Only a document the gateway has as the device does: an update of one never pushed reaches
            # the gateway as a new document (the type change or broken rule then judged against nothing).
            live = sorted((slot, doc_id, body) for slot, (doc_id, body) in kept.items()
                          if body is not None and (held is None or held.get(doc_id) is not None))
            rng.shuffle(live)
            # The type whose rules updates attacked least first, so a rarely written type gets its turn.
            live.sort(key=lambda item: self._attacked.get(f"{type_of(item[1])} update", 0))
            for slot, doc_id, body in live:
                update = self._bad_update(user_index, doc_id, body, rng, change_type=turn % 2 == 0)
                if update is not None:
                    del kept[slot]
                    self._generation[slot] = self._generation.get(slot, 0) + 1
                    return update
        if turn % 3 == 2:
            good = self._fresh(user_index, f"{device_key}.bad{rng.randrange(1 << 30)}", rng, bad=False)
            if good is not None and good.body is not None:
                unknown = next(f"unknown{n}" for n in range(len(self.spec.types) + 1)
                               if f"unknown{n}" not in self.spec.types)
                collection, bare = split(good.doc_id)
                return Write(qualified(collection, f"{unknown}.{bare}"), {**good.body, self.spec.type_field: unknown},
                             True)
        return self._fresh(user_index, f"{device_key}.bad{rng.randrange(1 << 30)}", rng, bad=True)

    def _bad_update(self, user_index: int, doc_id: str, old: dict[str, Any], rng: random.Random, *,
                    change_type: bool) -> Write | None:
        world = self.seed_world()
        writer = user_name(user_index)
        grants, roles = world.grants(writer), world.user_roles(writer)
        doc_type = self.spec.types[type_of(doc_id)]
        others = [t for t in self.writable_types() if t.name != doc_type.name]
        if change_type:
            for other in sorted(others, key=lambda t: t.name):
                body = self._fill(other, writer, grants, roles, rng, bad=False)
                if body is not None:
                    return Write(doc_id, body, True)
        body = self._fill(doc_type, writer, grants, roles, rng, bad=True, keep=frozenset(doc_type.immutable))
        if body is None:
            return None
        body.update({k: old[k] for k in doc_type.immutable if k in old})
        return Write(doc_id, body, True)

    def _fresh(self, user_index: int, doc_id: str, rng: random.Random, *, bad: bool,
               previous: dict[str, Any] | None = None, doc_type: str | None = None) -> Write | None:
        world = self.seed_world()
        writer = user_name(user_index)
        grants = world.grants(writer)
        roles = world.user_roles(writer)
        types = [t for t in self.writable_types() if doc_type is None or t.name == doc_type]
        # A weighted random order: types that others get to read (shared or public channels) come first more often.
        types.sort(key=lambda t: -rng.random() ** (1.0 / _weight(t)))
        for candidate in types:
            body = self._fill(candidate, writer, grants, roles, rng, bad=bad)
            if body is None:
                continue
            if previous is not None:
                body.update({k: previous[k] for k in candidate.immutable if k in previous})
            return Write(qualified(candidate.collection, f"{candidate.name}.{doc_id}"), body, bad)
        return None

    def _fill(self, doc_type: DocType, writer: str, grants: dict[str, Any], roles: dict[str, Any],
              rng: random.Random, *, bad: bool, keep: frozenset[str] | None = None) -> dict[str, Any] | None:
        """A body the spec accepts from `writer` (bad: one that breaks exactly one rule), or None.
        `keep`: for an update, the fields it may not break (None: a new document).

        A bad write breaks the type's rules in turn (those this writer can break), not always the
        first: a note's deliberate refusals then name another owner in one write and a team the
        writer lacks in the next, so a function that forgot either check is caught."""
        body: dict[str, Any] = {self.spec.type_field: doc_type.name}
        grants = self._in_collection(grants, doc_type.collection)
        choices: list[tuple[str, list[str], list[str]]] = []
        """Per rule: (field, values the writer satisfies, values it does not); field "" for a role rule."""
        for rule in doc_type.require:
            if rule.kind == "role":
                if rule.value.fields:
                    return None
                choices.append(("", [] if rule.value.text not in roles else [""],
                                [""] if rule.value.text not in roles else []))
                continue
            match = _SINGLE.match(rule.value.text)
            if match is None:
                return None
            prefix, name, suffix = match.groups()
            if rule.kind == "user":
                mine = [writer]
                others = [user_name(i) for i in range(min(self.users, 50)) if user_name(i) != writer]
            else:
                known = sorted({c[len(prefix):len(c) - len(suffix)] for c in self._universe()
                                if c.startswith(prefix) and c.endswith(suffix)
                                and len(c) > len(prefix) + len(suffix)})
                # Not a channel a guest grant may give the writer: the outcome would race the grant.
                guest = self.guest_channels().get(writer, set())
                mine = [v for v in known if f"{prefix}{v}{suffix}" in grants and f"{prefix}{v}{suffix}" not in guest]
                others = [v for v in known if v not in mine and f"{prefix}{v}{suffix}" not in guest]
            choices.append((name, mine, others))
        target = -1
        if bad:
            breakable = [i for i, (name, _, others) in enumerate(choices)
                         if others and name not in (keep or ())
                         and (name == "" or all(n != name for n, _, _ in choices[:i]))
                         and all(m or (name and n == name) for j, (n, m, _) in enumerate(choices) if j != i)]
            if not breakable:
                return None
            key = doc_type.name if keep is None else f"{doc_type.name} update"  # updates keep their own turns
            turn = self._attacked.get(key, 0)
            order = [(turn + k) % len(choices) for k in range(len(choices))]
            target = next(i for i in order if i in breakable)
            if target == order[0]:  # a writer who cannot break the rule whose turn it is leaves it to the next
                self._attacked[key] = turn + 1
        for index, (name, mine, others) in enumerate(choices):
            if index == target:
                if name:
                    body[name] = rng.choice(others)
                continue
            if not mine:
                return None
            if name and name not in body:
                body[name] = rng.choice(mine)
        for name in doc_type.placeholders():
            if name not in body:
                body[name] = sorted({f"{name[:3]}{rng.randrange(6)}" for _ in range(rng.randint(1, 2))})
        return body

    # Attacks on other users' documents and on grants ---------------------------------------------
    def guest_grants(self) -> GuestGrants:
        """The admin's guest grants of this workload (rig.oracle.guests)."""
        if self._guest_grants is None:
            self._guest_grants = GuestGrants(self)
        return self._guest_grants

    def guests(self) -> dict[str, tuple[str, dict[str, Any], int]]:
        return self.guest_grants().by_device()

    def guest_channels(self) -> dict[str, set[str]]:
        return self.guest_grants().channels()

    def guest_changes(self) -> list[tuple[str, dict[str, Any] | None]]:
        return self.guest_grants().changes()

    def guest_change_rounds(self) -> list[list[tuple[str, dict[str, Any] | None]]]:
        return self.guest_grants().rounds()

    def _foreign(self, user_index: int, held: Mapping[str, Mapping[str, Any] | None],
                 rng: random.Random) -> Write | None:
        """A write to another user's seeded document the device holds: in turn an update, a takeover
        of an immutable owner field, a delete. Seeded documents only: their owners never edit them,
        so the spec refuses each of these whenever the gateway gets it."""
        writer = user_name(user_index)
        writable = {t.name: t for t in self.writable_types()}
        targets: list[tuple[str, dict[str, Any], DocType, str]] = []
        for doc_id, body in sorted(held.items()):
            doc_type = writable.get(type_of(doc_id))
            if body is None or doc_type is None or ".seed." not in doc_id:
                continue
            for rule in doc_type.require:
                if rule.kind == "user" and len(rule.value.fields) == 1 and writer not in rule.value.expand(body):
                    clean = {k: v for k, v in body.items() if k not in ("written_at", "device")}
                    targets.append((doc_id, clean, doc_type, rule.value.fields[0]))
                    break
        rng.shuffle(targets)
        turn = self._foreign_turns
        for kind in [("update", "takeover", "delete")[(turn + k) % 3] for k in range(3)]:
            for doc_id, body, doc_type, owner_field in targets:
                if kind == "takeover" and owner_field not in doc_type.immutable:
                    continue
                self._foreign_turns = turn + 1
                if kind == "delete":
                    return Write(doc_id, None, True)
                return Write(doc_id, {**body, owner_field: writer} if kind == "takeover" else body, True)
        return None

    def _stranded(self, user_index: int, doc_id: str, rng: random.Random) -> Write | None:
        """A document owned by the user and a second owner, in a channel of an access rule neither
        holds (None: no type has a single-field user rule and access rule, or no such channel)."""
        world = self.seed_world()
        writer = user_name(user_index)
        for doc_type in sorted(self.writable_types(), key=lambda t: t.name):
            users = [r for r in doc_type.require if r.kind == "user" and len(r.value.fields) == 1]
            access = [_SINGLE.match(r.value.text) for r in doc_type.require if r.kind == "access"]
            if not users or len(access) != 1 or access[0] is None:
                continue
            prefix, name, suffix = access[0].groups()
            lacking = sorted(c for c in self._universe() if c.startswith(prefix) and c.endswith(suffix)
                             and c not in world.grants(writer))
            rng.shuffle(lacking)
            for channel in lacking:
                partners = [user_name(i) for i in range(self.users)
                            if user_name(i) != writer and channel not in world.grants(user_name(i))]
                body = self._fill(doc_type, writer, world.grants(writer), world.user_roles(writer), rng, bad=False)
                if not partners or body is None:
                    continue
                body[name] = channel[len(prefix):len(channel) - len(suffix)]
                body[users[0].value.fields[0]] = [writer, rng.choice(partners)]
                return Write(f"{doc_type.name}.{doc_id}", body)
        return None

    def _universe(self) -> set[str]:
        """Every channel some user of the run holds (in any collection, by its bare name)."""
        if self._channels is None:
            world = self.seed_world()
            self._channels = {c.rpartition(":")[2] if world.named else c
                              for i in range(self.users) for c in world.grants(user_name(i))}
        return self._channels

    def _in_collection(self, grants: dict[str, Any], collection: str) -> dict[str, Any]:
        """A named world's grants (`scope.name:channel`) of one collection, by bare channel name."""
        if not self.seed_world().named:
            return grants
        prefix = f"{collection}:"
        return {c[len(prefix):]: rules for c, rules in grants.items() if c.startswith(prefix)}


def seed_attempts(workload: RoutingWorkload, results: list[dict[str, Any]],
                  docs: Sequence[tuple[str, dict[str, Any] | None]], t: float) -> list[WriteAttempt]:
    """Write observations for admin writes answered by `_bulk_docs` (one result per document, in order;
    a body None is a deletion)."""
    attempts = []
    for (doc_id, body), result in zip(docs, results, strict=True):
        accepted = "rev" in result and not result.get("error")
        attempts.append(WriteAttempt(doc_id, None, accepted, body, body is None,
                                     rev=result.get("rev") if accepted else None,
                                     status=None if accepted else int(result.get("status") or 0) or None,
                                     detail="" if accepted else str(result.get("reason", result.get("error"))),
                                     t=t))
    return attempts
