"""Cases derived from a routing spec that attack every rule on the real gateway (any spec, not only `teams`).

For every document type the spec defines, :func:`attack_cases` builds two cases:

- ``attack_<type>_writes``: every write rule, immutable field and the type check,
  across a document's life over REST, each write by a principal made to satisfy
  every rule but the one attacked: create, update (old and new values differing,
  fields absent), type change, delete, recreate. Principals change between writes.
- ``attack_<type>_routing``: every channel template and every ``access()`` and
  ``role()`` grant, read by devices of fresh users holding exactly one channel:
  list values, moves, revocations and deletions while devices sleep, recreation.

The cases only act; the oracle judges the gateway (:class:`Harness` findings). A
case checks that the spec itself rejects what it meant to attack, so it cannot
pass vacuously (:class:`CaseError`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rig.conformance.cases import CaseError
from rig.conformance.harness import Harness
from rig.oracle.routing import PLACEHOLDER, PUBLIC, STAR, DocType, RoutingSpec, Template

Case = Callable[[Harness], None]


def solve(template: Template, target: str) -> dict[str, str] | None:
    """Field values that make `template` expand to `target` (None when no single-field solution exists)."""
    parts = PLACEHOLDER.split(template.text)
    fields = parts[1::2]
    if not fields:
        return {} if template.text == target else None
    if len(set(fields)) != 1 or len(fields) != 1:
        return None
    prefix, suffix = parts[0], parts[2]
    if not target.startswith(prefix) or not target.endswith(suffix) or len(target) <= len(prefix) + len(suffix):
        return None
    return {fields[0]: target[len(prefix):len(target) - len(suffix)]}


def type_fields(doc_type: DocType) -> list[str]:
    templates: list[Template] = [*doc_type.channels, *(r.value for r in doc_type.require)]
    for grant in doc_type.access:
        templates += [grant.to, *grant.channels]
    for role_grant in doc_type.roles:
        templates += [role_grant.to, *role_grant.roles]
    return list(dict.fromkeys([f for t in templates for f in t.fields] + list(doc_type.immutable)))


@dataclass(slots=True)
class Needs:
    """What a writer must hold to satisfy a set of rules of one body."""

    channels: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)


class Planner:
    """Bodies, writers and bait documents for one spec."""

    def __init__(self, spec: RoutingSpec) -> None:
        self.spec = spec

    def fill(self, doc_type: DocType, tag: str) -> dict[str, Any]:
        """A body of `doc_type` with every field it reads set to a harmless value (nobody holds its channels)."""
        body: dict[str, Any] = {self.spec.type_field: doc_type.name}
        for name in type_fields(doc_type):
            body[name] = f"{name}-{tag}"
        return body

    def writer(self, doc_type: DocType, body: dict[str, Any], writer: str, skip: int | None = None,
               owner: str = "nobody") -> Needs | None:
        """Point `body`'s user rules at `writer` (rule `skip` at `owner`); what writer needs for the rest."""
        for index, rule in enumerate(doc_type.require):
            if rule.kind == "user":
                values = solve(rule.value, owner if index == skip else writer)
                if values is None:
                    return None
                body.update(values)
        needs = Needs()
        for index, rule in enumerate(doc_type.require):
            expanded = rule.value.expand(body)
            if not expanded:
                return None
            if index == skip or rule.kind == "user":
                continue
            (needs.channels if rule.kind == "access" else needs.roles).add(expanded[0])
        if skip is not None:
            attacked = doc_type.require[skip]
            held = {writer} if attacked.kind == "user" else needs.channels if attacked.kind == "access" else needs.roles
            if set(attacked.value.expand(body)) & held:
                return None
        return needs

    def bait(self, channel: str, tag: str) -> dict[str, Any] | None:
        """A body (admin write) routed to `channel`, preferring types that grant nothing."""
        types = sorted(self.spec.types.values(), key=lambda t: bool(t.access or t.roles))
        for doc_type in types:
            for template in doc_type.channels:
                values = solve(template, channel) if template.text not in (PUBLIC, STAR) else None
                if values is not None:
                    body = self.fill(doc_type, tag)
                    body.update(values)
                    return body
        return None

    def any_channel(self, value: str) -> str | None:
        """A channel some type can be routed to, made from `value` (for a role's own channel)."""
        types = sorted(self.spec.types.values(), key=lambda t: bool(t.access or t.roles))
        for doc_type in types:
            for template in doc_type.channels:
                if len(template.fields) == 1:
                    return template.expand({template.fields[0]: value})[0]
        return None


def _readable(doc_type: DocType, body: dict[str, Any]) -> list[str]:
    return [c for t in doc_type.channels for c in t.expand(body) if c not in (PUBLIC, STAR)]


def _require_rejections(h: Harness, wanted: set[str], what: str) -> None:
    missing = wanted - set(h.expected_rejections())
    if missing:
        raise CaseError(f"case expectation: the spec should reject {sorted(missing)} ({what})")


def _user(h: Harness, name: str, needs: Needs, extra: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    for role in sorted(needs.roles):
        if role not in h.world.roles:
            h.put_role(role, [])
    h.put_user(name, sorted(needs.channels | set(extra)), sorted(needs.roles))


def writes_case(spec: RoutingSpec, doc_type: DocType, *, unknown_type: bool) -> Case:
    """Every write rule, immutable field, type change, delete and recreate of `doc_type`, over REST."""
    plan = Planner(spec)
    tf = spec.type_field
    name = doc_type.name

    def case(h: Harness) -> None:
        wanted: set[str] = set()
        body = plan.fill(doc_type, "a")
        needs = plan.writer(doc_type, body, "aw")
        if needs is None:
            raise CaseError(f"case expectation: no writer can satisfy every rule of {name}")
        _user(h, "aw", needs)
        doc = f"{name}-a"
        # Creates, each by a principal who satisfies every rule but one (and may read the document).
        for index, rule in enumerate(doc_type.require):
            attacker, candidate = f"ax{index}", plan.fill(doc_type, "a")
            attacker_needs = plan.writer(doc_type, candidate, attacker, skip=index, owner="aw")
            if attacker_needs is None:
                continue
            refused = set(rule.value.expand(candidate))
            readable = [c for c in _readable(doc_type, candidate) if c not in refused][:1]
            _user(h, attacker, attacker_needs, set(readable))
            h.write(f"{name}-c{index}", candidate, user=attacker)
            wanted.add(doc_type.rule(rule.name))
        for index, rule in enumerate(doc_type.require):  # fields absent: refused even for the admin
            if rule.value.fields:
                h.write(f"{name}-absent{index}", {k: v for k, v in body.items() if k not in rule.value.fields})
        if not h.write(doc, body, user="aw"):
            raise CaseError(f"case expectation: the spec accepts {doc}")
        # Updates refused by one rule: another principal, or the author after losing what the rule needs.
        for index, rule in enumerate(doc_type.require):
            update = {**body, "text": f"update {index}"}
            if rule.kind == "user":
                h.write(doc, update, user=f"ax{index}")
            else:
                lost = set(rule.value.expand(body))
                h.put_user("aw", sorted(needs.channels - lost), sorted(needs.roles - lost))
                h.write(doc, update, user="aw")
                h.delete(doc, user="aw")
                _user(h, "aw", needs)
            mutable = [f for f in rule.value.fields if f not in doc_type.immutable]
            if mutable:  # the rule's field changes to a value the author does not satisfy (old one satisfied)
                h.write(doc, {**body, **{f: f"{f}-b" for f in mutable}}, user="aw")
        # Immutable fields: changed (by a writer the new value satisfies) and removed.
        for name_ in doc_type.immutable:
            changed = {**body, name_: f"{name_}-z"}
            writer = next((v for r in doc_type.require if r.kind == "user" and name_ in r.value.fields
                           for v in r.value.expand(changed)), "aw")
            changed_needs = plan.writer(doc_type, dict(changed), writer) or Needs()
            _user(h, writer, Needs(changed_needs.channels | needs.channels, changed_needs.roles | needs.roles))
            h.write(doc, changed, user=writer)
            h.write(doc, {k: v for k, v in body.items() if k != name_}, user="aw")
            wanted.add(doc_type.rule(f"immutable({name_})"))
        # A change of type, to each other type whose rules the author can then satisfy.
        for other in spec.types.values():
            if other.name == name:
                continue
            moved = {**plan.fill(other, "a"), **{k: v for k, v in body.items() if k != tf}, tf: other.name}
            other_needs = plan.writer(other, moved, "aw")
            if other_needs is None:
                continue
            _user(h, "aw", Needs(needs.channels | other_needs.channels, needs.roles | other_needs.roles))
            h.write(doc, moved, user="aw")
            wanted.add("type")
        _user(h, "aw", needs)
        # Deletes: by each attacker, then by the author; then the document is written again.
        for index, rule in enumerate(doc_type.require):
            if rule.kind == "user":
                h.delete(doc, user=f"ax{index}")
        if not h.delete(doc, user="aw"):
            raise CaseError(f"case expectation: the spec accepts the author's deletion of {doc}")
        if not h.write(doc, {**body, "text": "written again"}, user="aw"):
            raise CaseError(f"case expectation: the spec accepts {doc} written again after its deletion")
        h.write(doc, {**body, "text": "updated after recreation"}, user="aw")
        if unknown_type:
            h.write("unknown-type", {tf: "zz-not-a-type"}, user="aw")
            wanted.add("type")
        _require_rejections(h, wanted, f"attacks on {name}")

    case.__doc__ = f"Every write rule, immutable field and type check of {name!r} attacked over a document's life."
    return case


def routing_case(spec: RoutingSpec, doc_type: DocType) -> Case:
    """Every channel template and grant of `doc_type`, read by devices of users holding exactly one channel."""
    plan = Planner(spec)
    name = doc_type.name

    def case(h: Harness) -> None:
        h.gateway_view = True  # the oracle also compares each revision's channels on the gateway with the spec's
        h.put_user("out", [])
        outsider = h.device("out")
        for index, template in enumerate(doc_type.channels):
            _channel_life(h, plan, doc_type, index, template, outsider)
        for index in range(len(doc_type.access)):
            _grant_life(h, plan, doc_type, "access", index, outsider)
        for index in range(len(doc_type.roles)):
            _grant_life(h, plan, doc_type, "roles", index, outsider)

    case.__doc__ = f"Every channel template and grant of {name!r}: readers, moves, revocations, deletes, recreation."
    return case


def _channel_life(h: Harness, plan: Planner, doc_type: DocType, index: int, template: Template,
                  outsider: Any) -> None:
    doc = f"{doc_type.name}-ch{index}"
    body = plan.fill(doc_type, f"c{index}")
    for name in template.fields:  # a list value: every element is routed, not only the first
        body[name] = [f"{name}-c{index}", f"{name}-d{index}"]
    channels = template.expand(body)
    held = [channels[-1]] if template.text not in (PUBLIC, STAR) else []
    reader = f"rd{index}"
    h.put_user(reader, held)
    device = h.device(reader)
    h.write(doc, body)
    h.sync(device)
    h.sync(outsider)
    if doc not in h.expected(reader):
        raise CaseError(f"case expectation: {reader} should see {doc} through {template.text}")
    if held:  # the reader loses the channel while its device sleeps, then gets it back
        h.put_user(reader, [])
        h.write(doc, {**body, "text": "while the reader had no access"})
        h.sync(device)
        h.put_user(reader, held)
        h.sync(device)
    movable = [f for f in template.fields if f not in doc_type.immutable]
    if movable:  # the document moves to another channel while the reader sleeps
        moved = {**body, **{f: f"{f}-m{index}" for f in movable}}
        mover = f"mv{index}"
        h.put_user(mover, template.expand(moved)[:1])
        h.write(doc, moved)
        h.sync(device)
        mover_device = h.device(mover)
        h.sync(mover_device)
        device = mover_device
        body = moved
    h.delete(doc)
    h.sync(device)
    h.sync(outsider)
    h.write(doc, {**body, "text": "written again"})
    h.sync(device)


def _grant_life(h: Harness, plan: Planner, doc_type: DocType, kind: str, index: int, outsider: Any) -> None:
    tag = f"{kind[0]}{index}"
    grantee = f"gr{tag}"
    if kind == "access":
        grant = doc_type.access[index]
        to, targets = grant.to, grant.channels
    else:
        role_grant = doc_type.roles[index]
        to, targets = role_grant.to, role_grant.roles
    body = plan.fill(doc_type, tag)
    values = solve(to, grantee)
    if values is None:
        raise CaseError(f"case expectation: cannot address {to.text} to one user")
    body.update(values)
    h.put_user(grantee, [])
    device = h.device(grantee)

    def bait(grant_body: dict[str, Any], suffix: str) -> list[str]:
        """Documents the grant gives access to (for a role: the role gets one channel with one document)."""
        docs = []
        for n, target in enumerate(t for template in targets for t in template.expand(grant_body)):
            channel = target
            if kind == "roles":
                channel = plan.any_channel(f"rc-{target}") or f"rc.{target}"
                existing = [c for c in h.world.roles.get(target, ()) if c != channel]
                h.put_role(target, [*existing, channel])
            found = plan.bait(channel, f"{tag}{suffix}{n}")
            if found is not None:
                h.write(f"bait-{tag}{suffix}{n}", found)
                docs.append(f"bait-{tag}{suffix}{n}")
        return docs

    docs = bait(body, "a")
    doc = f"{doc_type.name}-{tag}"
    h.write(doc, body)
    h.sync(device)
    h.sync(outsider)
    if docs and not set(docs) <= h.expected(grantee):
        raise CaseError(f"case expectation: {grantee} should see {docs} through {doc_type.rule(kind)}")
    h.write(doc, {**body, "text": "updated, still granting"})
    h.sync(device)
    movable = [f for t in targets for f in t.fields if f not in doc_type.immutable and f not in to.fields]
    if movable:  # the granted channel or role changes while the grantee sleeps
        body = {**body, **{f: f"{f}-n{tag}" for f in movable}}
        bait(body, "b")
        h.write(doc, body)
        h.sync(device)
    h.delete(doc)
    h.sync(device)
    h.write(doc, {**body, "text": "written again"})
    h.sync(device)
    h.sync(outsider)


def attack_cases(spec: RoutingSpec) -> dict[str, Case]:
    """The generated cases of `spec`, by name (``attack_<type>_writes``, ``attack_<type>_routing``)."""
    cases: dict[str, Case] = {}
    for number, doc_type in enumerate(spec.types.values()):
        if doc_type.require or doc_type.immutable or number == 0:
            cases[f"attack_{doc_type.name}_writes"] = writes_case(spec, doc_type, unknown_type=number == 0)
        cases[f"attack_{doc_type.name}_routing"] = routing_case(spec, doc_type)
    return cases
