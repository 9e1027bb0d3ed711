"""Run the conformance suite (pytest + xdist) against one or more Sync Gateway binaries and read back the results.

The suite lives in ``tests/conformance/test_cases.py``; this module starts it
as a subprocess with its options in the environment (read by
``tests/conformance/conftest.py``), then reads the JUnit XML and the per-case
findings files it leaves behind.
"""

from __future__ import annotations

import json
import os
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
SUITE = "tests/conformance/test_cases.py"


@dataclass(frozen=True, slots=True)
class Target:
    """One gateway to run the suite against: a label for the report and a binary."""

    label: str
    binary: Path | None
    urls: tuple[str, str, str] | None = None
    """A gateway already running (public, admin, metrics URLs; rig.gateway.resolve): no binary is started."""


def write_case_result(results_dir: Path, case: str, findings: list[Finding], seconds: float) -> None:
    """Called by the suite, one file per case (xdist workers never share one)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    data = {"case": case, "seconds": round(seconds, 3), "findings": [f.to_json() for f in findings]}
    (results_dir / f"{case}.json").write_text(json.dumps(data, indent=1))


def read_results(label: str, junit: Path, results_dir: Path, seconds: float) -> RunResult:
    """Outcomes from the JUnit XML, findings from the per-case files."""
    run = RunResult(label, seconds=seconds)
    try:
        root = ElementTree.parse(junit).getroot()
    except (FileNotFoundError, ElementTree.ParseError) as exc:
        raise RigError(f"{junit}: no JUnit results from the suite ({exc})") from None
    findings: dict[str, tuple[Finding, ...]] = {}
    for path in sorted(results_dir.glob("*.json")):
        data = json.loads(path.read_text())
        findings[data["case"]] = tuple(Finding.from_json(f) for f in data["findings"])
    for testcase in root.iter("testcase"):
        name = testcase.get("name", "?")
        case = name.split("[", 1)[1].rstrip("]") if "[" in name else name
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = testcase.find(tag)
            if element is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = element.get("message", "") or (element.text or "")
                break
        run.cases[case] = CaseResult(case, outcome, float(testcase.get("time", 0.0)), findings.get(case, ()),
                                     message)
    return run


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
    with (out_dir / "pytest.log").open("w") as log:
        subprocess.run(command, cwd=project_root(), env=environment, stdout=log, stderr=subprocess.STDOUT,
                       check=False)
    return read_results(target.label, junit, results, time.monotonic() - start)
