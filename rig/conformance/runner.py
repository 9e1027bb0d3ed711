"""Run the conformance suite (pytest + xdist) against one or more Sync Gateway binaries and read back the results.

The suite lives in ``tests/conformance/test_cases.py``; this module starts it
as a subprocess with its options in the environment (read by
``tests/conformance/conftest.py``), then reads the JUnit XML and the per-item
findings files it leaves behind: one row per pytest item, its counts checked against
JUnit's totals and pytest's own final line (docs/conformance.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from rig._errors import ConfigError, RigError
from rig._paths import project_root
from rig.oracle.check import Finding
from rig.oracle.report import CaseResult, RunResult

ENV_SPEC = "RIG_CONFORM_SPEC"
ENV_SYNC = "RIG_CONFORM_SYNC"
ENV_RESULTS = "RIG_CONFORM_RESULTS"
ENV_AGAINST = "RIG_CONFORM_AGAINST"
""""spec" (default): findings against the routing spec; "gateway": against the gateway's own view."""
ENV_BINARY = "RIG_SG_BINARY"
ENV_URLS = "RIG_SG_URLS"
ENV_CLIENT = "RIG_CONFORM_CBL"
"""The Couchbase Lite release the suite's devices emulate (rig.replicator.clients; default 3.3)."""
SUITE = "tests/conformance/test_cases.py"


@dataclass(frozen=True, slots=True)
class Target:
    """One gateway to run the suite against: a label for the report and a binary."""

    label: str
    binary: Path | None
    urls: tuple[str, str, str] | None = None
    """A gateway already running (public, admin, metrics URLs; rig.gateway.resolve): no binary is started."""


MODES = {
    "spec": "spec-checked: every finding is judged against the routing spec (delivery, write checks, principals)",
    "gateway": "gateway view: delivery is compared with the gateway's own routing (_raw channels, all_channels); "
               "no routing spec, so no write checks and no policy: a function that routes or authorises "
               "wrongly but consistently passes",
}
"""What a run's findings are checked against, by RIG_CONFORM_AGAINST."""

_SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed|warnings?|rerun)\b")
_TEARDOWN = "failed on teardown"


def item_key(nodeid: str) -> str:
    """A pytest item's key as JUnit XML names it: ``<classname>::<name>`` (classname dotted, from the root)."""
    parts = nodeid.split("::")
    dotted = parts[0].removesuffix(".py").replace("/", ".")
    return ".".join([dotted, *parts[1:-1]]) + "::" + parts[-1]


def write_case_result(results_dir: Path, nodeid: str, findings: list[Finding], seconds: float) -> None:
    """Called by the suite's fixture, one file per pytest item (xdist workers never share one)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    key = item_key(nodeid)
    data = {"item": key, "nodeid": nodeid, "seconds": round(seconds, 3), "findings": [f.to_json() for f in findings]}
    safe = "".join(c if c.isalnum() or c in "-_.[]" else "_" for c in key)
    (results_dir / f"{safe}-{hashlib.sha1(key.encode()).hexdigest()[:8]}.json").write_text(json.dumps(data, indent=1))


def pytest_counts(log: Path) -> tuple[str, dict[str, int]] | None:
    """pytest's own final summary line in `log` and its counts ("error" for errors), or None when absent."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        text = line.strip().strip("=").strip()
        if re.search(r"\bin [\d.]+s\b", text) and (_SUMMARY.search(text) or text.startswith("no tests ran")):
            counts: dict[str, int] = {}
            for number, word in _SUMMARY.findall(text):
                word = {"errors": "error", "warnings": "warning"}.get(word, word)
                counts[word] = counts.get(word, 0) + int(number)
            return text, counts
    return None


def read_results(label: str, junit: Path, results_dir: Path, seconds: float, *, log: Path | None = None,
                 exit_code: int | None = None, mode: str = "") -> RunResult:
    """One row per pytest item (outcome from the JUnit XML, findings from the per-item files), and
    every count cross-checked with JUnit's totals and pytest's own final line."""
    run = RunResult(label, seconds=seconds, mode=mode, pytest_exit=exit_code)
    try:
        root = ElementTree.parse(junit).getroot()
    except (FileNotFoundError, ElementTree.ParseError) as exc:
        if exit_code is not None:  # pytest ran and left no results: a verdict, not a crash of the rig
            run.problems.append(f"{junit}: no JUnit results from the suite ({exc}); see {log}")
            return run
        raise RigError(f"{junit}: no JUnit results from the suite ({exc})") from None
    findings: dict[str, tuple[Finding, ...]] = {}
    for path in sorted(results_dir.glob("*.json")):
        data = json.loads(path.read_text())
        key = data.get("item") or f"?::{data.get('case')}"
        findings[key] = findings.get(key, ()) + tuple(Finding.from_json(f) for f in data["findings"])
    testcases = list(root.iter("testcase"))
    modules = {tc.get("classname", "") for tc in testcases}
    elements = {"failure": 0, "error": 0, "skipped": 0}
    calls_passed = 0
    for testcase in testcases:
        classname, name = testcase.get("classname", ""), testcase.get("name", "?")
        key = f"{classname}::{name}"
        row = name if len(modules) == 1 else f"{classname.rsplit('.', 1)[-1]}::{name}"
        found = {tag: testcase.find(tag) for tag in elements}
        for tag, element in found.items():
            elements[tag] += element is not None
        error = found["error"]
        teardown_only = error is not None and (error.get("message") or "").startswith(_TEARDOWN)
        calls_passed += found["failure"] is None and found["skipped"] is None and (error is None or teardown_only)
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = found[tag]
            if element is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = element.get("message", "") or (element.text or "")
                break
        if row in run.cases:
            run.problems.append(f"two JUnit rows named {row!r}")
            row = key
        run.cases[row] = CaseResult(row, outcome, float(testcase.get("time", 0.0)), findings.pop(key, ()), message)
    for key, orphan in findings.items():
        if orphan:
            run.problems.append(f"{len(orphan)} findings of {key} have no JUnit row")
            run.cases[key] = CaseResult(key, "error", 0.0, orphan, "findings without a JUnit row")
    refusals = sorted({c.message.split("SyncFunctionRefused: ", 1)[1].splitlines()[0]
                       for c in run.cases.values() if "SyncFunctionRefused: " in c.message})
    run.problems.extend(refusals)
    run.problems.extend(_cross_check(root, len(testcases), elements, calls_passed, log))
    summary = pytest_counts(log) if log is not None else None
    run.pytest_summary = summary[0] if summary else ""
    return run


def _cross_check(root: ElementTree.Element, rows: int, elements: dict[str, int], calls_passed: int,
                 log: Path | None) -> list[str]:
    """Disagreements between the rows read, the JUnit totals and pytest's final line (each one a problem)."""
    problems: list[str] = []
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    totals = {attr: sum(int(s.get(attr, 0) or 0) for s in suites) for attr in ("tests", "failures", "errors",
                                                                              "skipped")}
    mine = {"tests": rows, "failures": elements["failure"], "errors": elements["error"],
            "skipped": elements["skipped"]}
    for attr, value in mine.items():
        if totals[attr] != value:
            problems.append(f"counts disagree: JUnit totals say {totals[attr]} {attr}, its rows {value}")
    if log is None:
        return problems
    summary = pytest_counts(log)
    if summary is None:
        problems.append(f"{log}: no pytest summary line (did pytest crash?)")
        return problems
    line, counts = summary
    theirs = {"passed": counts.get("passed", 0), "failed": counts.get("failed", 0),
              "error": counts.get("error", 0), "skipped": counts.get("skipped", 0)}
    ours = {"passed": calls_passed, "failed": elements["failure"], "error": elements["error"],
            "skipped": elements["skipped"]}
    if theirs != ours:
        problems.append(f"counts disagree: pytest says {line!r}; the rows read are "
                        + ", ".join(f"{n} {k}" for k, n in ours.items()))
    return problems


def run_suite(target: Target, out_dir: Path, *, spec: Path | None, sync_function: Path | None,
              against: str = "spec", workers: int = 2, pytest_args: tuple[str, ...] = (),
              env: Mapping[str, str] | None = None) -> RunResult:
    """Run the suite once against `target`; JUnit XML and findings go to `out_dir`."""
    if target.urls is None and (target.binary is None or not target.binary.is_file()):
        raise ConfigError(f"--gateway-binary: {target.binary}: no such file")
    if against not in ("spec", "gateway"):
        raise ConfigError(f"{ENV_AGAINST}: expected spec or gateway, got {against!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    junit = out_dir / "junit.xml"
    results = out_dir / "findings"
    for stale in results.glob("*.json"):
        stale.unlink()
    environment = {**os.environ, **(env or {}), ENV_RESULTS: str(results), ENV_AGAINST: against}
    if target.urls is not None:
        environment[ENV_URLS] = ",".join(target.urls)
    else:
        environment[ENV_BINARY] = str(target.binary)
        environment.pop(ENV_URLS, None)
    for key, value in ((ENV_SPEC, spec), (ENV_SYNC, sync_function)):
        if value is not None:
            environment[key] = str(value.resolve())
        else:
            environment.pop(key, None)
    command = [sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
               "-o", "junit_suite_name=conformance", *(["-n", str(workers)] if workers > 1 else []), *pytest_args]
    start = time.monotonic()
    log_path = out_dir / "pytest.log"
    junit.unlink(missing_ok=True)
    with log_path.open("w") as log:
        done = subprocess.run(command, cwd=project_root(), env=environment, stdout=log, stderr=subprocess.STDOUT,
                              check=False)
    return read_results(target.label, junit, results, time.monotonic() - start, log=log_path,
                        exit_code=done.returncode, mode=against)
