// DELIBERATELY BROKEN (conformance self-test): a note goes to the "leads" channel instead of its owner's channel.
// The teams spec (gateway_config/routing/teams.toml) rendered, then broken by hand.
function (doc, oldDoc, meta) {
  function expand(d, tmpl) {
    var out = [""];
    var re = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
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
  var live = !doc._deleted;
  var oldLive = !!oldDoc && !oldDoc._deleted;
  var src = live ? doc : (oldLive ? oldDoc : null);
  if (!src) { return; }
  var type = src["type"];
  if (live && oldLive && oldDoc["type"] !== doc["type"]) { throw({forbidden: "type"}); }
  if (type === "note") {
    if (live && oldLive) {
      if (!same(oldDoc["owner"], doc["owner"])) { throw({forbidden: "note.immutable(owner)"}); }
    }
    requireUser(need(expand(src, "{owner}"), "note.require_user({owner})"));
    requireAccess(need(expand(src, "team.{team}"), "note.require_access(team.{team})"));
    channel(all(src, ["leads", "team.{team}"]));
    return;
  }
  if (type === "membership") {
    if (live && oldLive) {
      if (!same(oldDoc["member"], doc["member"])) { throw({forbidden: "membership.immutable(member)"}); }
      if (!same(oldDoc["team"], doc["team"])) { throw({forbidden: "membership.immutable(team)"}); }
    }
    requireRole(need(expand(src, "lead"), "membership.require_role(lead)"));
    channel(all(src, ["leads"]));
    if (live) {
      access(expand(doc, "{member}"), all(doc, ["team.{team}"]));
    }
    return;
  }
  if (type === "promotion") {
    if (live && oldLive) {
      if (!same(oldDoc["member"], doc["member"])) { throw({forbidden: "promotion.immutable(member)"}); }
    }
    requireRole(need(expand(src, "lead"), "promotion.require_role(lead)"));
    channel(all(src, ["leads"]));
    if (live) {
      role(expand(doc, "{member}"), prefixed(all(doc, ["{role}"])));
    }
    return;
  }
  if (type === "announcement") {
    requireRole(need(expand(src, "lead"), "announcement.require_role(lead)"));
    channel(all(src, ["!"]));
    return;
  }
  if (type === "tagged") {
    requireUser(need(expand(src, "{owner}"), "tagged.require_user({owner})"));
    channel(all(src, ["tag.{tags}"]));
    return;
  }
  throw({forbidden: "type"});
}
