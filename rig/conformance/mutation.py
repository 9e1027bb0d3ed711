"""`rig conform --mutants`: generate mutants of the spec's sync function, weed out equivalent ones, kill the rest.

1. :func:`rig.conformance.mutate.generate` names every mutant of the spec;
   :func:`rig.conformance.equivalence.compare` runs them and the original under
   node on the same random writes: a mutant with the same outcome on every write
   is excluded as equivalent.
2. Baseline: every case once with the unmutated function (pytest -n WORKERS on
   ``tests/conformance/test_mutants.py``); a case that fails there is left out.
3. Each remaining mutant is one pytest item that runs the cases, those aimed at
   its rule first, on one database each (one Sync Gateway per xdist worker),
   and stops at the first case that fails: the mutant is killed.

Results are per-item JSON files; :func:`run_entry` is what an item does.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rig._errors import RigError
from rig._paths import project_root
from rig.conformance.attacks import attack_cases
from rig.conformance.cases import CASES, Case
from rig.conformance.equivalence import compare, random_writes
from rig.conformance.mutate import Mutant, generate, select, source
from rig.conformance.mutation_report import MutantResult, MutationReport, survivor_reason
from rig.oracle.render import render
from rig.oracle.report import findings_text
from rig.oracle.routing import RoutingSpec, load

ENV_MANIFEST = "RIG_MUTANTS_MANIFEST"
SUITE = "tests/conformance/test_mutants.py"
_TEAMS_TYPES = {"note", "membership", "promotion", "announcement", "tagged"}
Progress = Callable[[str], None]


def suite_cases(spec: RoutingSpec) -> dict[str, Case]:
    """The cases a spec is attacked with: the generated ones, and the hand-written ones when it is `teams`."""
    cases: dict[str, Case] = dict(attack_cases(spec))
    if set(spec.types) >= _TEAMS_TYPES and set(spec.users) >= {"ann", "bob", "carol", "dave", "root"}:
        cases.update(CASES)
    return cases


def case_order(mutant: Mutant, cases: list[str], seconds: Mapping[str, float]) -> list[str]:
    """The cases for `mutant`, the likeliest killers first: its type's case for its kind of rule, then the rest."""
    op = mutant.operator
    kind = "routing" if op.startswith(("channel.", "grant.")) else "writes"

    def tier(name: str) -> int:
        if mutant.doc_type:
            if name == f"attack_{mutant.doc_type}_{kind}":
                return 0
            if name.startswith(f"attack_{mutant.doc_type}_"):
                return 1
        elif name.endswith(f"_{kind}"):
            return 0
        return 2 if name.startswith("attack_") else 3

    return sorted(cases, key=lambda n: (tier(n), seconds.get(n, 0.0), n))


# One pytest item -------------------------------------------------------------------------------

def run_entry(entry: Mapping[str, Any], make_harness: Callable[..., Any], cases: Mapping[str, Case],
              drop_database: Callable[[str], None]) -> dict[str, Any]:
    """Run the entry's cases in order with its sync function; stop at the first failure when asked."""
    outcomes: list[dict[str, Any]] = []
    for name in entry["cases"]:
        start = time.monotonic()
        failure = ""
        harness = None
        try:
            harness = make_harness(sync=Path(entry["sync"]), against_spec=True)
            cases[name](harness)
        except Exception as exc:  # any failure of a case kills the mutant; recorded with its text
            failure = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
        if harness is not None:
            findings = harness.findings()
            if findings:
                failure = findings_text(findings).splitlines()[1].strip()[:300]
            with contextlib.suppress(Exception):  # a database left behind costs memory, not correctness
                drop_database(harness.db)
        outcomes.append({"case": name, "failed": bool(failure), "failure": failure,
                         "seconds": round(time.monotonic() - start, 2)})
        if failure and entry.get("stop_at_first", True):
            break
    return {"id": entry["id"], "outcomes": outcomes}


# The pytest runs ---------------------------------------------------------------------------------

def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the pytest run and its xdist workers; SIGINT first so that their gateways are stopped by the fixtures."""
    for sig, wait in ((signal.SIGINT, 60.0), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)


def _pytest(manifest: dict[str, Any], folder: Path, spec_path: Path, binary: Path, workers: int,
            progress: Progress, label: str, timeout: float) -> dict[str, dict[str, Any]]:
    """Run the entries of `manifest` as pytest items; their results by id."""
    results = folder / "results"
    results.mkdir(parents=True, exist_ok=True)
    for stale in results.glob("*.json"):
        stale.unlink()
    manifest = {**manifest, "results": str(results)}
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    env = {**os.environ, ENV_MANIFEST: str(path), "RIG_SG_BINARY": str(binary),
           "RIG_CONFORM_SPEC": str(spec_path.resolve())}
    env.pop("RIG_CONFORM_SYNC", None)
    command = [sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               *(["-n", str(workers)] if workers > 1 else [])]
    total = len(manifest["entries"])
    start = time.monotonic()
    shown = -1
    with (folder / "pytest.log").open("w") as log:
        process = subprocess.Popen(command, cwd=project_root(), env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        previous = signal.signal(signal.SIGTERM, _interrupted)
        try:
            while process.poll() is None:
                done = len(list(results.glob("*.json")))
                if done != shown:
                    progress(f"  {label}: {done}/{total} done ({time.monotonic() - start:.0f} s)")
                    shown = done
                if time.monotonic() - start > timeout:
                    raise RigError(f"{label}: stopped after {timeout:.0f} s; see {folder / 'pytest.log'}")
                time.sleep(2.0)
        finally:
            signal.signal(signal.SIGTERM, previous)
            _stop(process)
    found = {}
    for file in results.glob("*.json"):
        data = json.loads(file.read_text())
        found[data["id"]] = data
    if not found and total:
        raise RigError(f"{label}: the suite produced no results; see {folder / 'pytest.log'}")
    return found


def run_mutants(spec_path: Path, binary: Path, out: Path, *, workers: int = 2, operators: str | None = None,
                limit: int | None = None, one_per_operator: bool = False, case_patterns: str | None = None,
                writes: int = 1000, progress: Progress = print, timeout: float = 3600.0) -> MutationReport:
    start = time.monotonic()
    spec = load(spec_path)
    out.mkdir(parents=True, exist_ok=True)
    mutants = select(generate(spec), operators=operators, limit=limit, one_per_operator=one_per_operator)
    cases = sorted(suite_cases(spec))
    if case_patterns:
        patterns = [p.strip() for p in case_patterns.split(",") if p.strip()]
        cases = [c for c in cases if any(fnmatch.fnmatch(c, p) for p in patterns)]
    report = MutationReport(spec.name, cases=cases, writes=writes)
    functions = out / "functions"
    functions.mkdir(exist_ok=True)
    original = functions / "original.js"
    original.write_text(render(spec))
    sources = [source(spec, m) for m in mutants]
    for number, text in enumerate(sources):
        (functions / f"m{number:03d}.js").write_text(text)
    progress(f"{len(mutants)} mutants of {spec.name}; equivalence: {writes} random writes each under node")
    verdicts = compare(original.read_text(), sources, random_writes(spec, writes))
    live: list[tuple[int, Mutant]] = []
    for number, (mutant, verdict) in enumerate(zip(mutants, verdicts, strict=True)):
        if verdict.equivalent:
            report.results.append(MutantResult(mutant, "equivalent", reason=f"{mutant.describes}; same outcome as "
                                               f"the original on all {writes} random writes under node"))
        else:
            live.append((number, mutant))
    progress(f"{len(mutants) - len(live)} equivalent (excluded); baseline: {len(cases)} cases, unmutated function")
    baseline = _pytest({"entries": [{"id": f"case-{c}", "sync": str(original), "cases": [c]} for c in cases]},
                       out / "baseline", spec_path, binary, workers, progress, "baseline", timeout)
    seconds: dict[str, float] = {}
    for case in cases:
        outcome = (baseline.get(f"case-{case}") or {}).get("outcomes") or [
            {"failed": True, "failure": "no result (see baseline/pytest.log)", "seconds": 0.0}]
        seconds[case] = outcome[0]["seconds"]
        if outcome[0]["failed"]:
            report.baseline_failures[case] = outcome[0]["failure"]
    usable = [c for c in cases if c not in report.baseline_failures]
    entries = [{"id": f"m{number:03d}", "sync": str(functions / f"m{number:03d}.js"),
                "cases": case_order(mutant, usable, seconds), "stop_at_first": True} for number, mutant in live]
    progress(f"mutants: {len(entries)} to run against {len(usable)} cases on {workers} worker(s)")
    found = _pytest({"entries": entries}, out / "mutants", spec_path, binary, workers, progress, "mutants",
                    timeout - (time.monotonic() - start))
    for (_, mutant), entry in zip(live, entries, strict=True):
        data = found.get(str(entry["id"]))
        if data is None:
            report.results.append(MutantResult(mutant, "error", reason="no result: the item crashed or timed out "
                                               f"(see {out / 'mutants' / 'pytest.log'})"))
            continue
        outcomes = data["outcomes"]
        took = sum(o["seconds"] for o in outcomes)
        failed = [o for o in outcomes if o["failed"]]
        if failed:
            report.results.append(MutantResult(mutant, "killed", failed[0]["case"], failed[0]["failure"],
                                               len(outcomes), took))
        else:
            report.results.append(MutantResult(mutant, "survived", cases_run=len(outcomes), seconds=took,
                                               reason=survivor_reason(mutant, len(outcomes))))
    order = {m.name: i for i, m in enumerate(mutants)}
    report.results.sort(key=lambda r: order[r.mutant.name])
    report.seconds = time.monotonic() - start
    (out / "mutants.json").write_text(json.dumps(report.to_json(), indent=1))
    return report
