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


def _type_block(doc_type: DocType) -> str:
    lines = [f"  if (type === {_js(doc_type.name)}) {{"]
    if doc_type.immutable:
        lines.append("    if (live && oldLive) {")
        for name in doc_type.immutable:
            rule = _js(doc_type.rule(f"immutable({name})"))
            key = _js(name)
            lines.append(f"      if (!same(oldDoc[{key}], doc[{key}])) {{ throw({{forbidden: {rule}}}); }}")
        lines.append("    }")
    for check in doc_type.require:
        lines.append(f"    {_REQUIRE[check.kind]}(need(expand(src, {_js(check.value.text)}), "
                     f"{_js(doc_type.rule(check.name))}));")
    lines.append(f"    channel(all(src, {_templates(doc_type.channels)}));")
    if doc_type.access or doc_type.roles:
        lines.append("    if (live) {")
        for grant in doc_type.access:
            lines.append(f"      access(expand(doc, {_js(grant.to.text)}), all(doc, {_templates(grant.channels)}));")
        for role_grant in doc_type.roles:
            lines.append(f"      role(expand(doc, {_js(role_grant.to.text)}), "
                         f"prefixed(all(doc, {_templates(role_grant.roles)})));")
        lines.append("    }")
    lines.append("    return;")
    lines.append("  }")
    return "\n".join(lines)


def render(spec: RoutingSpec, collection: str | None = None) -> str:
    """The sync function for `spec` (of one `collection`, for a spec with named collections), as JavaScript.

    A collection's function knows only the types that live there: a document of another type
    written to it is rejected (rule ``type``)."""
    if collection is None:
        if len(spec.collections) > 1:
            raise ValueError(f"spec {spec.name!r} has {len(spec.collections)} collections: render each "
                             "(render_collections)")
        collection = spec.collections[0]
    types = spec.types_in(collection)
    if not types:
        raise ValueError(f"spec {spec.name!r} has no type in collection {collection!r}")
    field = _js(spec.type_field)
    where = "" if collection == "_default" else f", collection {collection}"
    head = [
        f"// Rendered from the routing spec {spec.name!r}{where} by rig.oracle.render; do not edit by hand.",
        "function (doc, oldDoc, meta) {",
        _HELPERS.rstrip("\n"),
        "  var live = !doc._deleted;",
        "  var oldLive = !!oldDoc && !oldDoc._deleted;",
        "  var src = live ? doc : (oldLive ? oldDoc : null);",
        "  if (!src) { return; }",
        f"  var type = src[{field}];",
        f"  if (live && oldLive && oldDoc[{field}] !== doc[{field}]) {{ throw({{forbidden: \"type\"}}); }}",
    ]
    blocks = [_type_block(t) for t in types.values()]
    tail = ['  throw({forbidden: "type"});', "}", ""]
    return "\n".join([*head, *blocks, *tail])


def render_collections(spec: RoutingSpec) -> dict[str, str]:
    """One sync function per collection of `spec` (`{"_default": ...}` for a spec without collections)."""
    return {collection: render(spec, collection) for collection in spec.collections}

