"""The oracle over a load run's observations: merge every process's file by time, replay, report.

A run directory holds ``observations-seed.jsonl`` and one ``observations-N.jsonl``
per load process (:mod:`rig.load.observe`). They are merged on the records'
``t`` (wall-clock seconds of one machine): principals first, then writes, then
snapshots at equal times. A write's time is when the device made the revision,
before the gateway could hold it, so a snapshot never shows a revision the
replay has not seen yet. Then :class:`rig.oracle.Checker` judges everything
against the routing spec; results go to ``oracle-findings.json``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig._errors import ConfigError
from rig.oracle.check import Checker, Finding, Kind
from rig.oracle.observations import (
    Observation,
    PrincipalChange,
    RevisionNames,
    SyncSnapshot,
    WriteAttempt,
    read_jsonl,
)
from rig.oracle.routing import RoutingSpec

FINDINGS_FILE = "oracle-findings.json"
MAX_LISTED = 10_000
"""Findings written out in full; beyond that only the counts (a broken function can leak to every device)."""
_RANK = {RevisionNames: -1, PrincipalChange: 0, WriteAttempt: 1, SyncSnapshot: 2}
FIGURES = {Kind.LEAK: "oracle_leaks", Kind.MISS: "oracle_misses", Kind.STALE: "oracle_stale",
           Kind.REVOCATION_NOT_APPLIED: "oracle_revocations_not_applied",
           Kind.WRITE_ACCEPTED: "oracle_writes_wrongly_accepted", Kind.WRITE_REJECTED: "oracle_writes_wrongly_rejected",
           Kind.SYNC_ALLOWED: "oracle_syncs_wrongly_allowed", Kind.SYNC_REFUSED: "oracle_syncs_refused",
           Kind.ROUTING: "oracle_routing_differs"}
"""`--fail-if` names of the finding counts."""


DEFAULT_GATE = "oracle_findings>0"
"""A routing run fails on any finding unless `--fail-if` names an oracle figure itself."""


def oracle_thresholds(fail_if: list[str]) -> list[str]:
    """The thresholds a routing run is judged by: `fail_if`, plus DEFAULT_GATE unless one of them
    names an oracle finding figure (which then replaces the default: a relaxation is explicit)."""
    names = {*FIGURES.values(), "oracle_findings"}
    if any(expression.strip().split("<")[0].split(">")[0].split("=")[0].strip() in names for expression in fail_if):
        return list(fail_if)
    return [*fail_if, DEFAULT_GATE]


def run_observations(run_dir: Path) -> list[Observation]:
    """Every observation of the run, in replay order."""
    files = sorted(run_dir.glob("observations-*.jsonl"))
    if not files:
        raise ConfigError(f"{run_dir}: no observations-*.jsonl (only a run with a routing spec records them)")
    records: list[Observation] = []
    for path in files:
        records.extend(read_jsonl(path))
    # Revision names first: they are identities, true at any time (rig.oracle.observations).
    records.sort(key=lambda obs: (not isinstance(obs, RevisionNames), obs.t, _RANK[type(obs)]))
    return records


@dataclass(slots=True)
class RunCheck:
    spec: str
    findings: list[Finding] = field(default_factory=list)
    writes: int = 0
    writes_refused: int = 0
    expected_refusals: int = 0
    """Writes the spec rejects (the workload's deliberate ones, and any other)."""
    snapshots_final: int = 0
    snapshots_mid_run: int = 0
    docs_final: int = 0
    """Documents judged in the final snapshots (each device against every document of the run)."""
    docs_visible: int = 0
    """Of these, (device, document) pairs the spec says the device must hold."""
    docs_held_mid_run: int = 0
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(f.kind.value for f in self.findings)
        return {kind.value: found.get(kind.value, 0) for kind in Kind}

    def figures(self) -> dict[str, float]:
        """The figures `--fail-if` may name: a count per finding kind (FIGURES), oracle_findings, what was checked."""
        counts = self.counts
        figures = {FIGURES[kind]: float(counts[kind.value]) for kind in Kind}
        figures.update(oracle_findings=float(len(self.findings)), oracle_writes=float(self.writes),
                       oracle_syncs_checked=float(self.snapshots_final + self.snapshots_mid_run),
                       oracle_docs_checked=float(self.docs_final))
        return figures

    def as_dict(self, examples: int = 20) -> dict[str, Any]:
        rules = Counter(f"{f.kind.value}: {f.rule}" for f in self.findings)
        return {"spec": self.spec, "counts": self.counts, "findings": len(self.findings),
                "writes": self.writes, "writes_refused": self.writes_refused,
                "writes_the_spec_rejects": self.expected_refusals,
                "snapshots_final": self.snapshots_final, "snapshots_mid_run": self.snapshots_mid_run,
                "docs_judged_final": self.docs_final, "docs_visible_final": self.docs_visible,
                "docs_held_mid_run": self.docs_held_mid_run, "seconds": round(self.seconds, 2),
                "by_rule": dict(rules.most_common(50)),
                "examples": [str(f) for f in self.findings[:examples]]}

    def text(self, examples: int = 5) -> str:
        return summary_text(self.as_dict(examples))


def summary_text(data: dict[str, Any], examples: int = 5) -> str:
    """What `RunCheck.as_dict` holds, in a few lines (the run summary prints it)."""
    counts = ", ".join(f"{kind} {n}" for kind, n in data["counts"].items() if n) or "none"
    lines = [f"oracle ({data['spec']}): {data['writes']} writes ({data['writes_refused']} refused, "
             f"{data['writes_the_spec_rejects']} by the spec), {data['snapshots_final']} final and "
             f"{data['snapshots_mid_run']} mid-run snapshots, {data['docs_judged_final']} documents judged "
             f"({data['docs_visible_final']} to hold); findings: {counts}"]
    shown = data["examples"][:examples]
    lines += [f"    {example}" for example in shown]
    if data["findings"] > len(shown):
        lines.append(f"    ... {data['findings'] - len(shown)} more in {FINDINGS_FILE}")
    return "\n".join(lines)


def check_run(spec: RoutingSpec, run_dir: Path) -> RunCheck:
    """Replay the run's observations through the spec."""
    started = time.monotonic()
    checker = Checker(spec)
    result = RunCheck(spec.name)
    world = checker.world
    assert world is not None
    for obs in run_observations(run_dir):
        if isinstance(obs, WriteAttempt):
            result.writes += 1
            result.writes_refused += not obs.accepted
        elif isinstance(obs, SyncSnapshot) and obs.outcome == "caught_up":
            if obs.scope == "leaks":
                result.snapshots_mid_run += 1
                result.docs_held_mid_run += len(obs.docs)
            else:
                result.snapshots_final += 1
                result.docs_final += len(world.current)
                result.docs_visible += sum(1 for rev in world.current.values()
                                           if not rev.deleted and world.sees(obs.user, rev))
        checker.feed(obs)
    result.findings = checker.findings
    result.expected_refusals = sum(1 for _, decision in checker.decisions if not decision.accepted)
    result.seconds = time.monotonic() - started
    return result


def write_findings(run_dir: Path, result: RunCheck) -> Path:
    path = run_dir / FINDINGS_FILE
    data = result.as_dict()
    data["listed"] = [f.to_json() for f in result.findings[:MAX_LISTED]]
    data["truncated"] = len(result.findings) > MAX_LISTED
    path.write_text(json.dumps(data, indent=1))
    return path
