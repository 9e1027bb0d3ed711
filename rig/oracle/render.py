"""Render a routing spec into a Sync Gateway sync function (ES5, no back-quotes).

The generated function does what the oracle (:mod:`rig.oracle.expect`) assumes:

- the document's type is ``doc[type_field]`` (for a deletion, the old revision's);
  an unknown type is rejected (rule ``type``), so is a change of type;
- ``immutable`` fields may not change between live revisions (``<type>.immutable(<field>)``);
- write rules run in order; a template that expands to nothing rejects the write
  under that rule (even for admin writes); ``require*`` are no-ops for admin writes;
- a deletion goes to the channels of the revision it deletes and carries no grants;
- every rejection is ``throw({forbidden: "<rule>"})`` or the gateway's own ``require*`` message.
"""

from __future__ import annotations

import json

from rig.oracle.routing import DocType, RoutingSpec, Template

_HELPERS = """\
  function expand(d, tmpl) {
    var out = [""];
    var re = /\\{([A-Za-z_][A-Za-z0-9_]*)\\}/g;
    var last = 0;
    var m;
    function cross(vals) {
      var next = [];
      for (var i = 0; i < out.length; i++) {
        for (var j = 0; j < vals.length; j++) {
          var s = out[i] + vals[j];
          if (next.indexOf(s) < 0) { next.push(s); }
        }
      }
      out = next;
    }
    if (!d) { return []; }
    while ((m = re.exec(tmpl)) !== null) {
      cross([tmpl.substring(last, m.index)]);
      var v = d[m[1]];
      var vals = [];
      if (typeof v === "string") { vals = [v]; }
      else if (Array.isArray(v)) {
        for (var k = 0; k < v.length; k++) { if (typeof v[k] === "string") { vals.push(v[k]); } }
      }
      var nonEmpty = [];
      for (var n = 0; n < vals.length; n++) { if (vals[n] !== "") { nonEmpty.push(vals[n]); } }
      if (nonEmpty.length === 0) { return []; }
      cross(nonEmpty);
      last = re.lastIndex;
    }
    cross([tmpl.substring(last)]);
    return out;
  }
  function all(d, tmpls) {
    var out = [];
    for (var i = 0; i < tmpls.length; i++) {
      var vals = expand(d, tmpls[i]);
      for (var j = 0; j < vals.length; j++) { if (out.indexOf(vals[j]) < 0) { out.push(vals[j]); } }
    }
    return out;
  }
  function need(vals, rule) {
    if (vals.length === 0) { throw({forbidden: rule}); }
    return vals;
  }
  function prefixed(vals) {
    var out = [];
    for (var i = 0; i < vals.length; i++) { out.push("role:" + vals[i]); }
    return out;
  }
  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }
"""

_REQUIRE = {"user": "requireUser", "access": "requireAccess", "role": "requireRole"}


def _js(value: object) -> str:
    return json.dumps(value)


def _templates(templates: tuple[Template, ...]) -> str:
    return _js([t.text for t in templates])


class Writer:
    """Writes the sync function of a spec, one piece per method.

    Each method emits one part of the function (a type's immutable checks, one
    write rule, its channels, its grants...). :mod:`rig.conformance.mutate`
    overrides one of them to render the spec with one mutation applied, so the
    unmutated rendering and every mutant share this code.
    """

    def __init__(self, spec: RoutingSpec, collection: str | None = None) -> None:
        self.spec = spec
        if collection is None:
            if len(spec.collections) > 1:
                raise ValueError(f"spec {spec.name!r} has {len(spec.collections)} collections: render each "
                                 "(render_collections)")
            collection = spec.collections[0]
        self.collection = collection
        self.types = spec.types_in(collection)
        """The types that live in this collection (a spec without collections: all of them)."""
        if not self.types:
            raise ValueError(f"spec {spec.name!r} has no type in collection {collection!r}")

    # The function's frame ------------------------------------------------------------------------
    def type_change(self) -> list[str]:
        field = _js(self.spec.type_field)
        return [f"  if (live && oldLive && oldDoc[{field}] !== doc[{field}]) {{ throw({{forbidden: \"type\"}}); }}"]

    def resurrection(self) -> list[str]:
        """Extra checks on a write over a tombstone (none: a deleted document may be written again)."""
        return []

    def unknown_type(self) -> list[str]:
        return ['  throw({forbidden: "type"});']

    # One type --------------------------------------------------------------------------------------
    def deletion(self, doc_type: DocType) -> list[str]:
        """Lines run first in the type's block (none: a deletion is checked like any write)."""
        return []

    def immutable(self, doc_type: DocType, name: str) -> list[str]:
        rule = _js(doc_type.rule(f"immutable({name})"))
        key = _js(name)
        return [f"      if (!same(oldDoc[{key}], doc[{key}])) {{ throw({{forbidden: {rule}}}); }}"]

    def require(self, doc_type: DocType, index: int) -> list[str]:
        check = doc_type.require[index]
        return [f"    {_REQUIRE[check.kind]}(need(expand(src, {_js(check.value.text)}), "
                f"{_js(doc_type.rule(check.name))}));"]

    def channels(self, doc_type: DocType) -> list[str]:
        return [f"    channel(all(src, {_templates(doc_type.channels)}));"]

    def access(self, doc_type: DocType, index: int) -> list[str]:
        grant = doc_type.access[index]
        return [f"      access(expand(doc, {_js(grant.to.text)}), all(doc, {_templates(grant.channels)}));"]

    def role(self, doc_type: DocType, index: int) -> list[str]:
        grant = doc_type.roles[index]
        return [f"      role(expand(doc, {_js(grant.to.text)}), prefixed(all(doc, {_templates(grant.roles)})));"]

    def grants_outside_live(self, doc_type: DocType) -> list[str]:
        """Grants made whatever the write (none: a deletion carries no grants)."""
        return []

    def type_block(self, doc_type: DocType) -> list[str]:
        lines = [f"  if (type === {_js(doc_type.name)}) {{", *self.deletion(doc_type)]
        if doc_type.immutable:
            lines.append("    if (live && oldLive) {")
            for name in doc_type.immutable:
                lines += self.immutable(doc_type, name)
            lines.append("    }")
        for index in range(len(doc_type.require)):
            lines += self.require(doc_type, index)
        lines += self.channels(doc_type)
        if doc_type.access or doc_type.roles:
            lines.append("    if (live) {")
            for index in range(len(doc_type.access)):
                lines += self.access(doc_type, index)
            for index in range(len(doc_type.roles)):
                lines += self.role(doc_type, index)
            lines.append("    }")
        lines += self.grants_outside_live(doc_type)
        lines.append("    return;")
        lines.append("  }")
        return lines

    def render(self, comment: str = "") -> str:
        spec = self.spec
        where = "" if self.collection == "_default" else f", collection {self.collection}"
        head = [
            f"// Rendered from the routing spec {spec.name!r}{where} by rig.oracle.render; do not edit by hand.",
            *([f"// {comment}"] if comment else []),
            "function (doc, oldDoc, meta) {",
            _HELPERS.rstrip("\n"),
            "  var live = !doc._deleted;",
            "  var oldLive = !!oldDoc && !oldDoc._deleted;",
            *self.resurrection(),
            "  var src = live ? doc : (oldLive ? oldDoc : null);",
            "  if (!src) { return; }",
            f"  var type = src[{_js(spec.type_field)}];",
            *self.type_change(),
        ]
        blocks = [line for t in self.types.values() for line in self.type_block(t)]
        tail = [*self.unknown_type(), "}", ""]
        return "\n".join([*head, *blocks, *tail])


def render(spec: RoutingSpec, collection: str | None = None) -> str:
    """The sync function for `spec` (of one `collection`, for a spec with named collections), as JavaScript.

    A collection's function knows only the types that live there: a document of another type
    written to it is rejected (rule ``type``)."""
    return Writer(spec, collection).render()


def render_collections(spec: RoutingSpec) -> dict[str, str]:
    """One sync function per collection of `spec` (`{"_default": ...}` for a spec without collections)."""
    return {collection: render(spec, collection) for collection in spec.collections}
