"""The rendered sync function agrees with the oracle: decisions, channels and grants, run under node.

node stands in for Sync Gateway's otto engine here only to compare the two
renderings of one spec (JS and the Python oracle); the gateway itself is
checked by tests/conformance. Skipped without node.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from typing import Any

import pytest

from rig.conformance import broken_sync_functions, default_spec_path
from rig.oracle import RoutingSpec, World, load, render

NODE = shutil.which("node")

# Minimal stand-ins for Sync Gateway's sync function API (sg:channels/sync_runner.go).
_DRIVER = """
const fs = require("fs");
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
const src = fs.readFileSync(process.argv[2], "utf8");
const out = [];
for (const c of cases) {
  const r = {channels: [], access: [], roles: [], rejected: null};
  const user = c.user;
  const list = (v) => (Array.isArray(v) ? v : [v]);
  const channel = (v) => { if (v !== null && v !== undefined) { list(v).forEach((x) => r.channels.push(x)); } };
  const access = (u, ch) => list(u).forEach((x) => list(ch).forEach((y) => r.access.push([x, y])));
  const role = (u, rs) => list(u).forEach((x) => list(rs).forEach((y) => r.roles.push([x, y])));
  const check = (ok, msg) => { if (user && !ok) { throw {forbidden: msg}; } };
  const requireUser = (u) => check(user && list(u).indexOf(user.name) >= 0, "sg wrong user");
  const requireAccess = (ch) => check(user && list(ch).some((x) => user.channels.indexOf(x) >= 0),
                                      "sg missing channel access");
  const requireRole = (rs) => check(user && list(rs).some((x) => user.roles.indexOf(x) >= 0), "sg missing role");
  const fn = eval("(" + src + ")");
  try { fn(c.doc, c.oldDoc, {}); } catch (e) { r.rejected = e.forbidden || String(e); }
  out.push(r);
}
process.stdout.write(JSON.stringify(out));
"""

TEAMS = ["red", "blue", ""]
USERS = ["ann", "bob", None]


def _random_body(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["note", "membership", "promotion", "announcement", "tagged", "spam"])
    body: dict[str, Any] = {"type": kind}
    for name, values in (("owner", USERS), ("team", TEAMS), ("member", USERS), ("role", ["lead", "auditor"]),
                         ("tags", [["a", "b"], [], "c"])):
        if rng.random() < 0.8:
            value = rng.choice(values)
            if value is not None:
                body[name] = value
    return body


def _cases(spec: RoutingSpec, count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    cases = []
    for _ in range(count):
        doc = _random_body(rng)
        old = _random_body(rng) if rng.random() < 0.4 else None
        if old is not None and rng.random() < 0.7:
            old = {**doc, **{k: v for k, v in old.items() if k != "type"}}
        deleted = old is not None and rng.random() < 0.3
        writer = rng.choice(["ann", "bob", "root", None])
        cases.append({"doc": {"_deleted": True} if deleted else doc, "oldDoc": old, "writer": writer,
                      "body": doc, "deleted": deleted})
    return cases


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_rendered_function_agrees_with_the_oracle(tmp_path: Any) -> None:
    spec = load(default_spec_path())
    source = render(spec)
    assert "`" not in source
    script = tmp_path / "sync.js"
    script.write_text(source)
    driver = tmp_path / "driver.js"
    driver.write_text(_DRIVER)
    cases = _cases(spec, 400)
    worlds = []
    for case in cases:
        world = World(spec)
        world.apply_write("m", "1-m", {"type": "membership", "member": "bob", "team": "blue"}, False)
        if case["oldDoc"] is not None:
            world.apply_write("d", "1-d", case["oldDoc"], False)
        writer = case["writer"]
        case["user"] = None if writer is None else {
            "name": writer, "channels": sorted(world.grants(writer)), "roles": sorted(world.user_roles(writer))}
        worlds.append(world)
    payload = json.dumps([{k: c[k] for k in ("doc", "oldDoc", "user")} for c in cases])
    result = subprocess.run([NODE, str(driver), str(script)], input=payload, capture_output=True, text=True,
                            check=True)
    outcomes = json.loads(result.stdout)
    rejected = 0
    for case, world, js in zip(cases, worlds, outcomes, strict=True):
        decision = world.decide("d", case["writer"], None if case["deleted"] else case["body"], case["deleted"])
        assert (js["rejected"] is None) == decision.accepted, (case, js, decision)
        if decision.accepted:
            revision = world.apply_write("d", "2-d", None if case["deleted"] else case["body"], case["deleted"])
            assert set(js["channels"]) == revision.channels, (case, js)
            assert {tuple(a) for a in js["access"]} == {(t, c) for t, c, _ in revision.access}
            assert {tuple(r) for r in js["roles"]} == {(u, f"role:{r}") for u, r, _ in revision.roles}
        else:
            rejected += 1
            if not js["rejected"].startswith("sg "):  # thrown by the rendering itself: names the rule
                assert js["rejected"] == decision.rule, (case, js, decision)
    assert 50 < rejected < 350  # both outcomes well exercised


def test_broken_functions_are_marked_and_differ_from_the_rendering() -> None:
    rendered = render(load(default_spec_path())).splitlines()[1:]
    broken = broken_sync_functions()
    assert len(broken) == 4
    for name, path in broken.items():
        text = path.read_text()
        assert text.startswith("// DELIBERATELY BROKEN"), name
        assert text.splitlines()[2:] != rendered, name
