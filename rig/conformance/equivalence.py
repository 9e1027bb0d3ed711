"""Equivalent mutants: run the original and each mutant sync function under node on the same random writes.

A mutant whose outcome (accepted or not; channels; ``access()`` and ``role()``
grants) equals the original's on every one of a few hundred random
(doc, oldDoc, user) triples behaves identically as far as the rig can tell
(e.g. a rule checked against ``oldDoc`` when the field it reads is immutable):
it is excluded from the kill rate instead of counted as a survivor. node
stands in for Sync Gateway's JavaScript engine only for this comparison, with
stubs of the sync function API; the gateway judges every other mutant.
:func:`random_writes` is pure (seeded); :func:`compare` runs node once for all.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig._errors import ConfigError, RigError
from rig.oracle.routing import PUBLIC, STAR, RoutingSpec, Template

# Stand-ins for Sync Gateway's sync function API (sg:channels/sync_runner.go): require* are
# no-ops without a user (an admin write), channel/access/role accumulate.
_DRIVER = r"""
const fs = require("fs");
const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const list = (v) => (v === null || v === undefined ? [] : Array.isArray(v) ? v : [v]);
const results = [];
for (const src of input.sources) {
  let fn = null;
  let broken = null;
  try { fn = eval("(" + src + ")"); } catch (e) { broken = "syntax: " + String(e); }
  const out = [];
  for (const w of input.writes) {
    if (broken) { out.push({error: broken}); continue; }
    const r = {channels: [], access: [], roles: [], rejected: false};
    const user = w.user;
    const channel = (v) => list(v).forEach((x) => r.channels.push(x));
    const access = (u, ch) => list(u).forEach((x) => list(ch).forEach((y) => r.access.push(x + ">" + y)));
    const role = (u, rs) => list(u).forEach((x) => list(rs).forEach((y) => r.roles.push(x + ">" + y)));
    const check = (ok) => { if (user && !ok) { throw {forbidden: "sg"}; } };
    const requireUser = (u) => check(list(u).indexOf(user && user.name) >= 0);
    const requireAccess = (ch) => check(list(ch).some((x) => user && user.channels.indexOf(x) >= 0));
    const requireRole = (rs) => check(list(rs).some((x) => user && user.roles.indexOf(x) >= 0));
    const doc = JSON.parse(JSON.stringify(w.doc));
    const oldDoc = w.oldDoc === null ? null : JSON.parse(JSON.stringify(w.oldDoc));
    try {
      const f = eval("(" + src + ")");
      f(doc, oldDoc, {});
    } catch (e) { r.rejected = true; }
    if (r.rejected) { out.push({rejected: true}); continue; }
    const uniq = (a) => Array.from(new Set(a)).sort();
    out.push({channels: uniq(r.channels), access: uniq(r.access), roles: uniq(r.roles)});
  }
  results.push(out);
}
process.stdout.write(JSON.stringify(results));
"""


def node() -> str:
    """The node binary (Debian package nodejs, installed by .ci/packages.sh)."""
    found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        raise ConfigError("node is not installed: needed to detect equivalent mutants (apt-get install nodejs)")
    return found


# Random writes ----------------------------------------------------------------------------------

def _fields(spec: RoutingSpec) -> list[str]:
    return sorted({f for t in spec.types.values() for f in [*t.placeholders(), *t.immutable]})


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    types: list[str]
    fields: list[str]
    values: list[str]
    users: list[str]
    roles: list[str]


def _vocabulary(spec: RoutingSpec) -> _Vocabulary:
    users = [*list(spec.users)[:3], "zed"]
    roles = [*list(spec.roles)[:3], "zrole"]
    return _Vocabulary([*spec.types, "zz-unknown"], _fields(spec), [*users, *roles, "red", "blue"], users, roles)


def _value(rng: random.Random, vocab: _Vocabulary) -> Any:
    roll = rng.random()
    if roll < 0.7:
        return rng.choice(vocab.values)
    if roll < 0.85:
        return rng.sample(vocab.values, rng.choice([1, 2, 2, 3]))
    return rng.choice(["", [], 7])


def _body(rng: random.Random, vocab: _Vocabulary, type_field: str) -> dict[str, Any]:
    body: dict[str, Any] = {type_field: rng.choice(vocab.types)}
    for name in vocab.fields:
        if rng.random() < 0.85:
            body[name] = _value(rng, vocab)
    return body


def _variant(rng: random.Random, vocab: _Vocabulary, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with one or two fields changed or removed (an update's old or new side)."""
    changed = dict(body)
    for name in rng.sample(vocab.fields, min(len(vocab.fields), rng.choice([0, 1, 1, 2]))):
        if rng.random() < 0.3:
            changed.pop(name, None)
        else:
            changed[name] = _value(rng, vocab)
    return changed


def _channels(spec: RoutingSpec, rng: random.Random, vocab: _Vocabulary) -> list[str]:
    """Channels a random user holds: expansions of the spec's templates over the vocabulary, some static ones."""
    templates: list[Template] = []
    for doc_type in spec.types.values():
        templates += [*doc_type.channels, *(r.value for r in doc_type.require if r.kind == "access")]
        for grant in doc_type.access:
            templates += list(grant.channels)
    pool: list[str] = []
    for template in templates:
        values = {f: rng.choice(vocab.values) for f in template.fields}
        pool += template.expand(values) if template.fields else [template.text]
    pool += [c for r in spec.roles.values() for c in r.channels]
    pool = sorted({c for c in pool if c not in (PUBLIC, STAR)})
    return sorted(set(rng.sample(pool, min(len(pool), rng.randint(0, 4)))) | {PUBLIC})


def _satisfy(rng: random.Random, spec: RoutingSpec, sides: list[dict[str, Any]], user: dict[str, Any] | None,
             vocab: _Vocabulary) -> None:
    """Make `user` meet some write rules of the revisions in `sides` (old and new alike, or one side only).

    Without this nearly every random write would be refused. Each rule is met
    on both sides, on one side only, or on neither.
    """
    doc_type = spec.doc_type(sides[-1])
    if doc_type is None or user is None:
        return
    for rule in doc_type.require:
        plan = rng.choice(["both", "both", "both", "neither", "new", "old"])
        if plan == "neither":
            continue
        fields = rule.value.fields
        value = user["name"] if rule.kind == "user" else rng.choice(vocab.values)
        for index, body in enumerate(sides):
            met = plan == "both" or (plan == "new") == (index == len(sides) - 1)
            for name in fields:
                body[name] = value if met else rng.choice(vocab.values)
        if rule.kind == "user" and not fields:
            user["name"] = rule.value.text
            continue
        expanded = rule.value.expand({f: value for f in fields}) if fields else [rule.value.text]
        if rule.kind == "access":
            user["channels"] = sorted(set(user["channels"]) | set(expanded[:1]))
        elif rule.kind == "role":
            user["roles"] = sorted(set(user["roles"]) | set(expanded[:1]))
    if rng.random() < 0.3:
        readable = [c for t in doc_type.channels for c in t.expand(sides[-1])]
        if readable:
            user["channels"] = sorted(set(user["channels"]) | {rng.choice(readable)})


def random_writes(spec: RoutingSpec, count: int = 400, seed: int = 1) -> list[dict[str, Any]]:
    """`count` (doc, oldDoc, user) triples: creates, updates, deletes, recreations, type changes; some admin.

    The user is often made to satisfy the rules of the old or the new revision (or
    both), so that accepted writes, and rules satisfied on one side only, are common.
    """
    rng = random.Random(seed)
    vocab = _vocabulary(spec)
    tf = spec.type_field
    writes: list[dict[str, Any]] = []
    for _ in range(count):
        user = None if rng.random() < 0.15 else {
            "name": rng.choice(vocab.users), "channels": _channels(spec, rng, vocab),
            "roles": sorted(set(rng.sample(vocab.roles, rng.randint(0, 2))))}
        body = _body(rng, vocab, tf)
        if rng.random() < 0.9:
            body[tf] = rng.choice(list(spec.types))
        shape = rng.random()
        old: dict[str, Any] | None
        if shape < 0.25:
            old = None
            _satisfy(rng, spec, [body], user, vocab)
        elif shape < 0.7:
            old = dict(body)
            _satisfy(rng, spec, [old, body], user, vocab)
            body = _variant(rng, vocab, body)
        elif shape < 0.82:
            old = {"_deleted": True}
            _satisfy(rng, spec, [body], user, vocab)
        else:
            old = _body(rng, vocab, tf)
            _satisfy(rng, spec, [body], user, vocab)
        doc: dict[str, Any] = body
        if old is not None and "_deleted" not in old and rng.random() < 0.3:
            doc = {"_deleted": True}
        writes.append({"doc": doc, "oldDoc": old, "user": user})
    return writes


# Comparison -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Verdict:
    equivalent: bool
    differing: int
    """How many of the writes had another outcome."""
    witness: dict[str, Any] | None = None
    """The first differing write with both outcomes."""


def run_under_node(sources: Sequence[str], writes: list[dict[str, Any]], timeout: float = 300.0) -> list[list[Any]]:
    """Each source's outcome on each write (one node process for all of them)."""
    with tempfile.TemporaryDirectory(prefix="rig-equiv-") as folder:
        driver = Path(folder) / "driver.js"
        driver.write_text(_DRIVER)
        data = Path(folder) / "input.json"
        data.write_text(json.dumps({"sources": list(sources), "writes": writes}))
        done = subprocess.run([node(), str(driver), str(data)], capture_output=True, text=True, timeout=timeout,
                              check=False)
    if done.returncode != 0:
        raise RigError(f"node failed on the sync functions: {done.stderr.strip()[-500:]}")
    results: list[list[Any]] = json.loads(done.stdout)
    return results


def compare(original: str, mutants: Sequence[str], writes: list[dict[str, Any]]) -> list[Verdict]:
    """For each mutant source: does it behave like `original` on every write?"""
    results = run_under_node([original, *mutants], writes)
    reference = results[0]
    if any("error" in r for r in reference):
        raise RigError(f"node cannot run the original sync function: {reference[0].get('error')}")
    verdicts: list[Verdict] = []
    for outcomes in results[1:]:
        differing = [i for i, (a, b) in enumerate(zip(reference, outcomes, strict=True)) if a != b]
        witness = None
        if differing:
            i = differing[0]
            witness = {**writes[i], "original": reference[i], "mutant": outcomes[i]}
        verdicts.append(Verdict(not differing, len(differing), witness))
    return verdicts
