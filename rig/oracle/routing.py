"""The routing spec: document types, channels, grants, write rules; loaded from TOML with strict validation.

A spec names, per document type (the value of the type field), the channels a
document goes to (templates over its fields: ``"team.{team}"``), the
``access()`` and ``role()`` grants it carries, the fields that may never change
and the write rules (``requireUser``, ``requireAccess``, ``requireRole``) in the
order they are checked. Users and roles get static channels and roles. Pure:
:func:`load` reads one file, everything else works on values.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from rig._errors import ConfigError, did_you_mean

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LITERAL = re.compile(r"^[-+=/_.@A-Za-z0-9]*$")
_NAME = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_.@]*$")
PUBLIC = "!"
STAR = "*"


@dataclass(frozen=True, slots=True)
class Template:
    """A string with ``{field}`` placeholders; expands over a document's string or list-of-string fields."""

    text: str

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(PLACEHOLDER.findall(self.text))

    def expand(self, doc: Mapping[str, Any] | None) -> list[str]:
        """Every value of the template for `doc` (a product over list fields); [] when a field is missing."""
        if doc is None:
            return []
        parts = PLACEHOLDER.split(self.text)  # literal, field, literal, field, ..., literal
        choices: list[list[str]] = []
        for index, part in enumerate(parts):
            if index % 2 == 0:
                choices.append([part])
                continue
            value = doc.get(part)
            values = [value] if isinstance(value, str) else (
                [v for v in value if isinstance(v, str)] if isinstance(value, list) else [])
            values = [v for v in values if v]
            if not values:
                return []
            choices.append(values)
        result: list[str] = []
        for combo in product(*choices):
            text = "".join(combo)
            if text not in result:
                result.append(text)
        return result


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """``access(to, channels)``: `to` expands to user names (or ``role:name``)."""

    to: Template
    channels: tuple[Template, ...]


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """``role(to, ["role:" + r])``."""

    to: Template
    roles: tuple[Template, ...]


@dataclass(frozen=True, slots=True)
class WriteRule:
    """One write check: kind is "user", "access" or "role"; the template expands over the document."""

    kind: str
    value: Template

    @property
    def name(self) -> str:
        return f"require_{self.kind}({self.value.text})"


DEFAULT_COLLECTION = "_default"


@dataclass(frozen=True, slots=True)
class DocType:
    name: str
    channels: tuple[Template, ...]
    access: tuple[AccessGrant, ...] = ()
    roles: tuple[RoleGrant, ...] = ()
    require: tuple[WriteRule, ...] = ()
    immutable: tuple[str, ...] = ()
    collection: str = DEFAULT_COLLECTION
    """Where documents of this type live: `_default` or `scope.name`. The collection's sync function
    routes them; its `access()` grants give channels in that collection only (Sync Gateway keeps
    channel access per collection), its `role()` grants hold database-wide."""

    def rule(self, suffix: str) -> str:
        return f"{self.name}.{suffix}"

    def placeholders(self) -> list[str]:
        """The body fields the type's templates name (``{owner}``, ...), in first-use order."""
        texts = [t.text for t in self.channels] + [r.value.text for r in self.require]
        texts += [g.to.text for g in self.access] + [c.text for g in self.access for c in g.channels]
        texts += [g.to.text for g in self.roles] + [r.text for g in self.roles for r in g.roles]
        found: list[str] = []
        for text in texts:
            found += [f for f in PLACEHOLDER.findall(text) if f not in found]
        return found


@dataclass(frozen=True, slots=True)
class Principal:
    """A user or role of the spec: static channels (``admin_channels``) and, for users, roles."""

    name: str
    channels: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RoutingSpec:
    name: str
    type_field: str
    types: dict[str, DocType]
    users: dict[str, Principal] = field(default_factory=dict)
    roles: dict[str, Principal] = field(default_factory=dict)
    description: str = ""
    source: Path | None = None

    def doc_type(self, body: Mapping[str, Any] | None) -> DocType | None:
        if body is None:
            return None
        value = body.get(self.type_field)
        return self.types.get(value) if isinstance(value, str) else None

    @property
    def collections(self) -> tuple[str, ...]:
        """The collections the spec's types live in, in order of first use."""
        return tuple(dict.fromkeys(t.collection for t in self.types.values()))

    def types_in(self, collection: str) -> dict[str, DocType]:
        return {name: t for name, t in self.types.items() if t.collection == collection}

    def channel_fields(self, principal: Principal) -> dict[str, Any]:
        """A user's or role's static channels as Sync Gateway's principal config takes them: `admin_channels`
        for the default collection; for named collections the same channels in each (`collection_access`)."""
        if self.collections == (DEFAULT_COLLECTION,):
            return {"admin_channels": list(principal.channels)}
        access: dict[str, dict[str, Any]] = {}
        for collection in self.collections:
            scope, _, name = collection.partition(".")
            access.setdefault(scope, {})[name] = {"admin_channels": list(principal.channels)}
        return {"collection_access": access}

    def channels_of(self, body: Mapping[str, Any] | None) -> frozenset[str]:
        doc_type = self.doc_type(body)
        if doc_type is None:
            return frozenset()
        return frozenset(c for t in doc_type.channels for c in t.expand(body))


# Loading ---------------------------------------------------------------------------------------

class _Reader:
    """Strict access to the TOML tables: every error names the file and the dotted key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {message}")

    def table(self, data: Any, key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, f"expected a table, got {type(data).__name__}")
        return data

    def only(self, data: dict[str, Any], key: str, allowed: set[str]) -> None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}" if key else unknown[0],
                            f"unknown key{did_you_mean(unknown[0], allowed)} (allowed: {', '.join(sorted(allowed))})")

    def string(self, data: dict[str, Any], key: str, name: str, default: str | None = None) -> str:
        value = data.get(name, default)
        if not isinstance(value, str):
            raise self.fail(f"{key}.{name}" if key else name, "expected a string" if name in data else "missing")
        return value

    def strings(self, data: dict[str, Any], key: str, name: str) -> list[str]:
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{key}.{name}", "expected a list of strings")
        return list(value)

    def template(self, text: str, key: str, *, channel: bool) -> Template:
        literal = PLACEHOLDER.sub("", text)
        if channel and text in (PUBLIC, STAR):
            return Template(text)
        if not text or "{" in literal or "}" in literal or not _LITERAL.match(literal):
            raise self.fail(key, f"invalid template {text!r} (letters, digits, -+=/_.@ and {{field}} placeholders)")
        return Template(text)


def load(path: Path) -> RoutingSpec:
    """Read and validate a routing spec; ConfigError names the file and key of any mistake."""
    reader = _Reader(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse(data, reader)


def parse(data: dict[str, Any], reader: _Reader) -> RoutingSpec:
    reader.only(data, "", {"name", "description", "type_field", "types", "users", "roles"})
    roles = {name: _principal(reader, f"roles.{name}", body, user=False)
             for name, body in reader.table(data.get("roles", {}), "roles").items()}
    users = {name: _principal(reader, f"users.{name}", body, user=True)
             for name, body in reader.table(data.get("users", {}), "users").items()}
    for user in users.values():
        for role in user.roles:
            if role not in roles:
                raise reader.fail(f"users.{user.name}.roles", f"role {role!r} is not defined under [roles]")
    if "types" not in data:
        raise reader.fail("types", "missing (at least one [types.NAME] table is required)")
    types_table = reader.table(data["types"], "types")
    if not types_table:
        raise reader.fail("types", "at least one document type is required")
    types = {name: _doc_type(reader, name, body) for name, body in types_table.items()}
    _check_collections(reader, types)
    return RoutingSpec(name=reader.string(data, "", "name"), type_field=reader.string(data, "", "type_field", "type"),
                       types=types, users=users, roles=roles,
                       description=reader.string(data, "", "description", ""), source=reader.path)


def _principal(reader: _Reader, key: str, body: Any, *, user: bool) -> Principal:
    name = key.split(".", 1)[1]
    if not _NAME.match(name):
        raise reader.fail(key, "invalid name")
    table = reader.table(body, key)
    reader.only(table, key, {"channels", "roles"} if user else {"channels"})
    channels = reader.strings(table, key, "channels")
    for index, channel in enumerate(channels):
        if channel not in (PUBLIC, STAR) and (not channel or PLACEHOLDER.search(channel)
                                              or not _LITERAL.match(channel)):
            raise reader.fail(f"{key}.channels[{index}]", f"invalid channel name {channel!r}")
    return Principal(name, tuple(channels), tuple(reader.strings(table, key, "roles")) if user else ())


def _doc_type(reader: _Reader, name: str, body: Any) -> DocType:
    key = f"types.{name}"
    if not _NAME.match(name):
        raise reader.fail(key, "invalid type name")
    table = reader.table(body, key)
    reader.only(table, key, {"channels", "access", "roles", "require", "immutable", "collection"})
    collection = reader.string(table, key, "collection", DEFAULT_COLLECTION)
    if collection == "_default._default":
        collection = DEFAULT_COLLECTION
    scope, dot, coll = collection.partition(".")
    if collection != DEFAULT_COLLECTION and (not dot or not _NAME.match(scope) or not _NAME.match(coll)
                                             or "." in coll or scope == DEFAULT_COLLECTION):
        raise reader.fail(f"{key}.collection",
                          f"expected SCOPE.NAME in a named scope (or _default), got {collection!r}")
    channels = tuple(reader.template(t, f"{key}.channels[{i}]", channel=True)
                     for i, t in enumerate(reader.strings(table, key, "channels")))
    if not channels:
        raise reader.fail(f"{key}.channels", "a document type must route to at least one channel")
    access: list[AccessGrant] = []
    roles: list[RoleGrant] = []
    for kind in ("access", "roles"):
        grants = table.get(kind, [])
        if not isinstance(grants, list):
            raise reader.fail(f"{key}.{kind}", "expected an array of tables")
        for index, grant in enumerate(grants):
            gkey = f"{key}.{kind}[{index}]"
            what = "channels" if kind == "access" else "roles"
            gtable = reader.table(grant, gkey)
            reader.only(gtable, gkey, {"to", what})
            to = reader.template(reader.string(gtable, gkey, "to"), f"{gkey}.to", channel=False)
            targets = tuple(reader.template(t, f"{gkey}.{what}[{i}]", channel=False)
                            for i, t in enumerate(reader.strings(gtable, gkey, what)))
            if not targets:
                raise reader.fail(f"{gkey}.{what}", "must not be empty")
            if kind == "access":
                access.append(AccessGrant(to, targets))
            else:
                roles.append(RoleGrant(to, targets))
    require: list[WriteRule] = []
    rules = table.get("require", [])
    if not isinstance(rules, list):
        raise reader.fail(f"{key}.require", "expected an array of tables")
    for index, rule in enumerate(rules):
        rkey = f"{key}.require[{index}]"
        rtable = reader.table(rule, rkey)
        reader.only(rtable, rkey, {"user", "access", "role"})
        if len(rtable) != 1:
            raise reader.fail(rkey, "exactly one of user, access, role")
        (kind, value), = rtable.items()
        if not isinstance(value, str):
            raise reader.fail(f"{rkey}.{kind}", "expected a string")
        require.append(WriteRule(kind, reader.template(value, f"{rkey}.{kind}", channel=False)))
    immutable = reader.strings(table, key, "immutable")
    return DocType(name, channels, tuple(access), tuple(roles), tuple(require), tuple(immutable), collection)


def _check_collections(reader: _Reader, types: dict[str, DocType]) -> None:
    """What Sync Gateway can hold: the default collection alone, or named collections in one scope."""
    where = {t.collection: name for name, t in types.items()}
    if DEFAULT_COLLECTION in where and len(where) > 1:
        raise reader.fail(f"types.{where[DEFAULT_COLLECTION]}.collection",
                          "the default collection cannot sit beside named ones (a database with named "
                          "collections has no default collection); give every type a collection")
    scopes = {c.partition(".")[0] for c in where}
    if len(scopes) > 1:
        raise reader.fail("types", f"collections in {len(scopes)} scopes ({', '.join(sorted(scopes))}); "
                          "Sync Gateway takes one named scope per database")
