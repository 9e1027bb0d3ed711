"""Mutants of a routing spec's sync function: the rendering with one realistic mistake in one rule (pure).

Every mutant is the spec rendered by :class:`rig.oracle.render.Writer` with one
piece overridden, so it is named by its operator and the rule it breaks
(``require.old`` of ``note.require_access(team.{team})``). :func:`generate`
walks every rule of every type of a spec and applies every operator that fits;
:func:`source` renders one mutant. The operators are listed in
:data:`OPERATORS` (documented in docs/mutants.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from rig.oracle.render import Writer
from rig.oracle.routing import PLACEHOLDER, PUBLIC, STAR, DocType, RoutingSpec, Template

OPERATORS: dict[str, tuple[str, str]] = {
    # name: (what the mutant does, what a case must do to kill it)
    "require.drop": ("the write rule is not checked", "write without satisfying the rule"),
    "require.readers": ("anyone who may read the document may write it",
                        "write as a reader of the document who does not satisfy the rule"),
    "require.old": ("the rule is checked against the old revision on an update",
                    "update the rule's field to a value the writer does not satisfy"),
    "require.create_only": ("the rule is not checked on updates",
                            "update a document as a writer who does not satisfy the rule"),
    "require.tombstone": ("the rule is checked against the tombstone on a delete (every delete refused)",
                          "delete a document as a writer who satisfies the rule"),
    "delete.unchecked": ("deletions skip the type's write rules", "delete a document as a writer the rules refuse"),
    "immutable.drop": ("the field may change", "update the field to another value"),
    "immutable.absent_ok": ("the field may be removed", "update the document without the field"),
    "channel.drop": ("the document is not routed by the template", "sync a reader holding only that channel"),
    "channel.public": ("the template is replaced by the public channel", "sync a user holding none of its channels"),
    "channel.other": ("the template is replaced by another channel of the spec",
                      "sync a reader holding only that channel"),
    "channel.first": ("only the first element of a list field is routed",
                      "route a document whose field is a list; sync a reader of a later element"),
    "channel.old": ("an update stays in the old revision's channel",
                    "update the field; sync readers of the old and the new channel"),
    "channel.no_delete": ("the tombstone is routed nowhere", "delete a document; sync a reader"),
    "grant.drop": ("the grant is not made", "sync the grantee of a grant document"),
    "grant.widen": ("the grant gives more than the spec says", "sync the grantee; it must not see more"),
    "grant.misaddress": ("the grant goes to the principal named by another field", "sync the grantee"),
    "grant.on_delete": ("the grant is kept when its document is deleted",
                        "delete the grant document while the grantee sleeps; sync it"),
    "grant.old": ("an update keeps granting what the old revision granted",
                  "change a granted field while the grantee sleeps; sync it"),
    "grant.create_only": ("the grant is made only when the document is created (an update revokes it)",
                          "update a grant document; sync the grantee"),
    "type.change": ("a document may change its type", "update a document to another type"),
    "type.unknown": ("a document of an unknown type is accepted", "write a document of a type the spec lacks"),
    "resurrect.refused": ("a deleted document may not be written again", "recreate a deleted document"),
}


@dataclass(frozen=True, slots=True)
class Mutant:
    """One mutation: `operator` applied to `target` of `doc_type` (index or field name)."""

    operator: str
    rule: str
    """The spec rule it breaks, as the oracle names it (``note.require_user({owner})``, ``membership.access``)."""
    doc_type: str = ""
    target: str = ""
    """Which piece of the type: a template text, a field name or a require rule's name."""
    index: int = -1
    detail: str = ""
    """Operator-specific: the replacement channel, field, roles..."""

    @property
    def name(self) -> str:
        where = f"{self.rule}[{self.target}]" if self.target and self.target not in self.rule else self.rule
        return f"{self.operator} {where}"

    @property
    def describes(self) -> str:
        return OPERATORS[self.operator][0] + (f" ({self.detail})" if self.detail else "")

    @property
    def kill_hint(self) -> str:
        return OPERATORS[self.operator][1]

    def to_json(self) -> dict[str, Any]:
        return {"operator": self.operator, "rule": self.rule, "doc_type": self.doc_type, "target": self.target,
                "index": self.index, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mutant:
        return cls(data["operator"], data["rule"], data.get("doc_type", ""), data.get("target", ""),
                   int(data.get("index", -1)), data.get("detail", ""))


def _js(value: object) -> str:
    return json.dumps(value)


def _texts(templates: tuple[Template, ...] | list[Template]) -> str:
    return _js([t.text for t in templates])


_REQUIRE = {"user": "requireUser", "access": "requireAccess", "role": "requireRole"}
_FIRST_ONLY = ("(function (d) { if (!d) { return d; } var c = {}; for (var k in d) { "
               "c[k] = Array.isArray(d[k]) ? d[k].slice(0, 1) : d[k]; } return c; })")
_UPDATED_FROM_OLD = "(live && oldLive ? oldDoc : src)"


class MutantWriter(Writer):
    """The spec's writer with `mutant` applied to its one piece."""

    def __init__(self, spec: RoutingSpec, mutant: Mutant) -> None:
        super().__init__(spec)
        self.mutant = mutant

    def _hit(self, doc_type: DocType, *operators: str) -> bool:
        return self.mutant.doc_type == doc_type.name and self.mutant.operator in operators

    def type_change(self) -> list[str]:
        return [] if self.mutant.operator == "type.change" else super().type_change()

    def unknown_type(self) -> list[str]:
        return ["  return;"] if self.mutant.operator == "type.unknown" else super().unknown_type()

    def resurrection(self) -> list[str]:
        if self.mutant.operator == "resurrect.refused":
            return ['  if (live && oldDoc && !oldLive) { throw({forbidden: "resurrection"}); }']
        return super().resurrection()

    def deletion(self, doc_type: DocType) -> list[str]:
        if self._hit(doc_type, "delete.unchecked"):
            return [f"    if (!live) {{ channel(all(src, {_texts(doc_type.channels)})); return; }}"]
        return super().deletion(doc_type)

    def immutable(self, doc_type: DocType, name: str) -> list[str]:
        if not (self._hit(doc_type, "immutable.drop", "immutable.absent_ok") and self.mutant.target == name):
            return super().immutable(doc_type, name)
        if self.mutant.operator == "immutable.drop":
            return []
        key, rule = _js(name), _js(doc_type.rule(f"immutable({name})"))
        return [f"      if (doc[{key}] !== undefined && !same(oldDoc[{key}], doc[{key}])) "
                f"{{ throw({{forbidden: {rule}}}); }}"]

    def require(self, doc_type: DocType, index: int) -> list[str]:
        op = self.mutant.operator
        if not (self.mutant.doc_type == doc_type.name and op.startswith("require.") and self.mutant.index == index):
            return super().require(doc_type, index)
        check = doc_type.require[index]
        call, text, rule = _REQUIRE[check.kind], _js(check.value.text), _js(doc_type.rule(check.name))
        if op == "require.drop":
            return []
        if op == "require.readers":
            return [f"    requireAccess(need(all(src, {_texts(doc_type.channels)}), {rule}));"]
        if op == "require.old":
            return [f"    {call}(need(expand({_UPDATED_FROM_OLD}, {text}), {rule}));"]
        if op == "require.create_only":
            return [f"    if (!(live && oldLive)) {{ {call}(need(expand(src, {text}), {rule})); }}"]
        return [f"    {call}(need(expand(doc, {text}), {rule}));"]  # require.tombstone

    def channels(self, doc_type: DocType) -> list[str]:
        op = self.mutant.operator
        if not (self.mutant.doc_type == doc_type.name and op.startswith("channel.")):
            return super().channels(doc_type)
        index = self.mutant.index
        rest = [t for i, t in enumerate(doc_type.channels) if i != index]
        lines = [f"    channel(all(src, {_texts(rest)}));"] if rest else []
        text = _js([doc_type.channels[index].text])
        if op == "channel.public":
            lines.append(f"    channel({_js([PUBLIC])});")
        elif op == "channel.other":
            lines.append(f"    channel({_js([self.mutant.detail])});")
        elif op == "channel.first":
            lines.append(f"    channel(all({_FIRST_ONLY}(src), {text}));")
        elif op == "channel.old":
            lines.append(f"    channel(all({_UPDATED_FROM_OLD}, {text}));")
        elif op == "channel.no_delete":
            lines.append(f"    channel(all(live ? doc : null, {text}));")
        return lines  # channel.drop: the rest only

    def _grant(self, doc_type: DocType, kind: str, index: int, source: str) -> str:
        op, detail = self.mutant.operator, self.mutant.detail
        if kind == "access":
            grant = doc_type.access[index]
            to, targets = grant.to.text, [t.text for t in grant.channels]
        else:
            role_grant = doc_type.roles[index]
            to, targets = role_grant.to.text, [t.text for t in role_grant.roles]
        if op == "grant.widen":
            targets = targets + json.loads(detail)
        if op == "grant.misaddress":
            to = detail
        values = f"all({source}, {_js(targets)})"
        if kind == "access":
            return f"access(expand({source}, {_js(to)}), {values});"
        return f"role(expand({source}, {_js(to)}), prefixed({values}));"

    def _grant_hit(self, doc_type: DocType, kind: str, index: int) -> bool:
        return (self.mutant.doc_type == doc_type.name and self.mutant.operator.startswith("grant.")
                and self.mutant.rule == doc_type.rule(kind) and self.mutant.index == index)

    def _grant_lines(self, doc_type: DocType, kind: str, index: int) -> list[str]:
        op = self.mutant.operator
        if op in ("grant.drop", "grant.on_delete"):
            return []
        if op == "grant.old":
            return [f"      {self._grant(doc_type, kind, index, '(oldLive ? oldDoc : doc)')}"]
        if op == "grant.create_only":
            return [f"      if (!oldLive) {{ {self._grant(doc_type, kind, index, 'doc')} }}"]
        return [f"      {self._grant(doc_type, kind, index, 'doc')}"]

    def access(self, doc_type: DocType, index: int) -> list[str]:
        if self._grant_hit(doc_type, "access", index):
            return self._grant_lines(doc_type, "access", index)
        return super().access(doc_type, index)

    def role(self, doc_type: DocType, index: int) -> list[str]:
        if self._grant_hit(doc_type, "roles", index):
            return self._grant_lines(doc_type, "roles", index)
        return super().role(doc_type, index)

    def grants_outside_live(self, doc_type: DocType) -> list[str]:
        mutant = self.mutant
        if mutant.doc_type != doc_type.name or mutant.operator != "grant.on_delete":
            return super().grants_outside_live(doc_type)
        kind = mutant.rule.rsplit(".", 1)[1]
        return [f"    {self._grant(doc_type, kind, mutant.index, 'src')}"]


def source(spec: RoutingSpec, mutant: Mutant) -> str:
    """The sync function of `spec` with `mutant` applied."""
    return MutantWriter(spec, mutant).render(comment=f"MUTANT {mutant.name}: {mutant.describes}")


# Generation -------------------------------------------------------------------------------------

def _static_channels(spec: RoutingSpec) -> list[str]:
    """Channels the spec names literally: roles' and users' static channels, templates without fields."""
    found: list[str] = []
    for principal in [*spec.roles.values(), *spec.users.values()]:
        found += [c for c in principal.channels if c not in (PUBLIC, STAR)]
    for doc_type in spec.types.values():
        found += [t.text for t in doc_type.channels if not t.fields and t.text not in (PUBLIC, STAR)]
    return list(dict.fromkeys(found))


def _other_channel(spec: RoutingSpec, doc_type: DocType, template: Template) -> str | None:
    """A channel of the spec the template never expands to, preferring one no other template of the type has."""
    own = {t.text for t in doc_type.channels}
    candidates = [c for c in _static_channels(spec) if c != template.text]
    for channel in candidates:
        if channel not in own and not _matches(template, channel):
            return channel
    return None


def _matches(template: Template, channel: str) -> bool:
    """Could `template` expand to `channel`? (its literal parts in order)."""
    parts = PLACEHOLDER.split(template.text)
    literals = parts[0::2]
    if not channel.startswith(literals[0]) or not channel.endswith(literals[-1]):
        return False
    return len(literals) > 1 or channel == template.text


def _fields(doc_type: DocType) -> list[str]:
    fields: list[str] = []
    templates = [*doc_type.channels, *(r.value for r in doc_type.require)]
    for grant in doc_type.access:
        templates += [grant.to, *grant.channels]
    for role_grant in doc_type.roles:
        templates += [role_grant.to, *role_grant.roles]
    for template in templates:
        fields += template.fields
    return list(dict.fromkeys(fields))


def _grant_mutants(spec: RoutingSpec, doc_type: DocType, kind: str, index: int, to: Template,
                   targets: tuple[Template, ...]) -> list[Mutant]:
    rule = doc_type.rule(kind)
    target = f"{to.text} <- {', '.join(t.text for t in targets)}"
    base = Mutant("", rule, doc_type.name, target, index)
    mutants = [replace(base, operator=op) for op in ("grant.drop", "grant.on_delete", "grant.old", "grant.create_only")]
    have = {t.text for t in targets}
    if kind == "access":
        extra = [t.text for t in doc_type.channels if t.text not in have] or [PUBLIC]
    else:
        extra = [r for r in spec.roles if r not in have]
    if extra:
        mutants.append(replace(base, operator="grant.widen", detail=json.dumps(extra)))
    others = [f for f in _fields(doc_type) if f not in to.fields]
    if to.fields and others:
        detail = to.text.replace(f"{{{to.fields[0]}}}", f"{{{others[0]}}}")
        mutants.append(replace(base, operator="grant.misaddress", detail=detail))
    return mutants


def generate(spec: RoutingSpec) -> list[Mutant]:
    """Every mutant of `spec`, in a stable order (type by type, then the global ones)."""
    mutants: list[Mutant] = []
    for doc_type in spec.types.values():
        name = doc_type.name
        for index, check in enumerate(doc_type.require):
            rule = doc_type.rule(check.name)
            operators = ["require.drop", "require.readers", "require.create_only"]
            if check.value.fields:  # a literal rule reads no field: old revision or tombstone alike
                operators += ["require.old", "require.tombstone"]
            mutants += [Mutant(op, rule, name, check.name, index) for op in operators]
        if doc_type.require:
            mutants.append(Mutant("delete.unchecked", doc_type.rule("delete"), name))
        for field in doc_type.immutable:
            rule = doc_type.rule(f"immutable({field})")
            mutants += [Mutant("immutable.drop", rule, name, field), Mutant("immutable.absent_ok", rule, name, field)]
        for index, template in enumerate(doc_type.channels):
            base = Mutant("", doc_type.rule("channels"), name, template.text, index)
            mutants.append(replace(base, operator="channel.drop"))
            if template.text != PUBLIC:
                mutants.append(replace(base, operator="channel.public"))
            other = _other_channel(spec, doc_type, template)
            if other is not None:
                mutants.append(replace(base, operator="channel.other", detail=other))
            if template.fields:
                mutants += [replace(base, operator="channel.first"), replace(base, operator="channel.old")]
            mutants.append(replace(base, operator="channel.no_delete"))
        for index, grant in enumerate(doc_type.access):
            mutants += _grant_mutants(spec, doc_type, "access", index, grant.to, grant.channels)
        for index, role_grant in enumerate(doc_type.roles):
            mutants += _grant_mutants(spec, doc_type, "roles", index, role_grant.to, role_grant.roles)
    mutants += [Mutant("type.change", "type"), Mutant("type.unknown", "type"), Mutant("resurrect.refused", "resurrect")]
    return mutants


def select(mutants: list[Mutant], *, operators: str | None = None, limit: int | None = None,
           one_per_operator: bool = False) -> list[Mutant]:
    """A subset: operators is a comma list of operator names or classes (``require``, ``channel.drop``)."""
    chosen = mutants
    if operators:
        wanted = [o.strip() for o in operators.split(",") if o.strip()]
        chosen = [m for m in chosen if any(m.operator == w or m.operator.startswith(w + ".") for w in wanted)]
    if one_per_operator:
        seen: set[str] = set()
        chosen = [m for m in chosen if not (m.operator in seen or seen.add(m.operator))]  # type: ignore[func-returns-value]
    return chosen[:limit] if limit is not None else chosen
