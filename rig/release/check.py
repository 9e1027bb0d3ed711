"""`rig release-check`: every stage against every gateway, stages kept for a resumed check, one verdict.

Stages, per gateway, each on a gateway of its own (a fresh process or container, or the same
gateway given by URL):

- conformance: the conformance suite (rig.conformance.runner) against the running gateway;
- bench: the fixed benchmark set (rig.release.bench), gateway CPU per document;
- scenario: a short phone-fleet run judged by the oracle (`rig run SCENARIO --gateway NAME`,
  a subprocess: the load engine patches the process it runs in).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig._errors import RigError
from rig._paths import project_root
from rig.gateway.named import GatewayName
from rig.gateway.resolve import ResolvedGateway, started_gateway
from rig.release.bench import BenchSizes, run_bench
from rig.release.compare import DEFAULT_TOLERANCE, Comparison, compare
from rig.release.store import StageStore, stage_key
from rig.replicator.clients import RELEASES

STAGES = ("conformance", "bench", "scenario")
BENCH_PARTS = ("pull", "push", "parallel", "fleet", "storm")
DEFAULT_BENCH_PARTS = ("pull", "push", "parallel", "fleet", "storm")
CONFORMANCE_CLIENTS = tuple(RELEASES)
"""Every release the rig emulates (3.3, 3.4, 4.1): a 4.1 device's versions are paired with the gateway's
rev-tree IDs by the conformance harness, so the oracle judges them like the others."""


@dataclass(frozen=True, slots=True)
class CheckOptions:
    out: Path
    stages: tuple[str, ...] = STAGES
    select: str | None = None
    """Conformance cases matching this pytest -k expression only."""
    workers: int = 2
    sizes: BenchSizes = field(default_factory=BenchSizes)
    bench_parts: tuple[str, ...] = DEFAULT_BENCH_PARTS
    clients: tuple[str, ...] = CONFORMANCE_CLIENTS
    """Couchbase Lite releases the conformance suite's devices emulate, the suite run once for each."""
    scenario: str = "release"
    scenario_duration: float | None = None
    tolerance: float = DEFAULT_TOLERANCE
    fresh: bool = False
    """Run every stage again, ignoring stored results."""

    def stage_options(self, stage: str) -> dict[str, Any]:
        if stage == "conformance":
            return {"select": self.select, "clients": list(self.clients)}
        if stage == "bench":
            return {"sizes": self.sizes.as_dict(), "parts": sorted(self.bench_parts)}
        return {"scenario": self.scenario, "duration": self.scenario_duration}


Progress = Callable[[str], None]


def run_check(names: list[GatewayName], options: CheckOptions, progress: Progress = print) -> dict[str, Any]:
    """Run (or resume) every stage on every gateway; write release-check.json and report.html; the result."""
    store = StageStore(options.out)
    started = time.monotonic()
    gateways: list[dict[str, Any]] = []
    total = len(names) * len(options.stages)
    step = 0
    for index, name in enumerate(names, 1):
        entry: dict[str, Any] = {"label": name.label, "name": name.text, "describe": {}, "stages": {}}
        for stage in options.stages:
            step += 1
            where = (f"[{step}/{total}] gateway {index}/{len(names)} {name.label} ({name.text}) · stage {stage}")
            key = stage_key(name, stage, options.stage_options(stage))
            kept = None if options.fresh else store.completed(key)
            if kept is not None:
                progress(f"{where}: kept from an earlier run ({store.path(key).name})")
                result = kept
            else:
                progress(f"{where}: running · {_clock(time.monotonic() - started)} elapsed")
                stage_started = time.monotonic()
                result = _run_stage(stage, name, options, options.out / name.label / stage, progress)
                result["seconds"] = round(time.monotonic() - stage_started, 1)
                store.save(key, result)
                state = "done" if result.get("ok") else f"FAILED: {result.get('error', '?')}"
                progress(f"{where}: {state} in {_clock(result['seconds'])}")
            entry["stages"][stage] = result
            if result.get("describe") and not entry["describe"]:
                entry["describe"] = result["describe"]
        gateways.append(entry)
    comparison = compare(gateways, tolerance=options.tolerance)
    document = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "seconds": round(time.monotonic() - started, 1), "options": _options_json(options),
                "gateways": gateways, "comparison": comparison.as_dict()}
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "release-check.json").write_text(json.dumps(document, indent=1))
    from rig.report.release import write_report

    write_report(document, options.out / "report.html")
    return document


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _options_json(options: CheckOptions) -> dict[str, Any]:
    return {"stages": list(options.stages), "select": options.select, "clients": list(options.clients),
            "workers": options.workers,
            "bench": options.stage_options("bench"), "scenario": options.stage_options("scenario"),
            "tolerance": options.tolerance}


def _run_stage(stage: str, name: GatewayName, options: CheckOptions, folder: Path,
               progress: Progress) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if stage == "scenario":
            return scenario_stage(name, options, folder, progress)
        with started_gateway(name, folder / "gateway-run", log_level="warn",
                             progress=lambda line: progress(f"  {line}")) as gateway:
            if stage == "conformance":
                result = conformance_stage(gateway, options, folder, progress)
            else:
                result = run_bench(gateway, sizes=options.sizes, parts=frozenset(options.bench_parts),
                                   progress=progress)
                result["ok"] = True
            result["describe"] = gateway.describe()
            return result
    except (RigError, OSError, ValueError, KeyError) as exc:
        (folder / "error.txt").write_text(traceback.format_exc())
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:500]}"}


def conformance_stage(gateway: ResolvedGateway, options: CheckOptions, folder: Path,
                      progress: Progress) -> dict[str, Any]:
    """The suite once per client release in `options.clients`; a case is `CASE · CBL RELEASE`."""
    from rig.conformance.runner import Target, run_suite

    controller = gateway.controller
    target = Target(gateway.name.label, None, urls=(controller.public_url, controller.admin_url,
                                                     controller.metrics_url))
    cases: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    failures: list[str] = []
    seconds = 0.0
    for release in options.clients:
        out = folder / f"cbl-{release}"
        progress(f"  conformance suite, devices as Couchbase Lite {release}, against {controller.public_url} "
                 f"(log {out / 'pytest.log'})")
        run = run_suite(target, out, spec=None, sync_function=None, workers=options.workers,
                        pytest_args=("-k", options.select) if options.select else (),
                        env=gateway.subprocess_env(), cbl=release)
        for name, case in sorted(run.cases.items()):
            cases[f"{case_name(name)} · CBL {release}"] = {
                "outcome": case.outcome, "seconds": round(case.seconds, 2),
                "findings": [f.to_json() for f in case.findings], "message": case.message[:300]}
        for outcome, count in run.counts.items():
            counts[outcome] = counts.get(outcome, 0) + count
        # why this gateway's own run would not pass a gate (rig conform's verdict)
        failures += [f"CBL {release}: {reason}" for reason in run.failures()]
        seconds += run.seconds
        progress(f"  conformance, CBL {release}: {dict(run.counts)}")
    return {"ok": bool(cases), "error": "" if cases else f"no case ran (see {folder}/cbl-*/pytest.log)",
            "cases": cases, "counts": counts, "suite_seconds": round(seconds, 1), "failures": failures,
            "clients": list(options.clients)}


def case_name(row: str) -> str:
    """`anonymous_client` for the suite's `test_case[anonymous_client]`; any other test keeps its full id."""
    if row.startswith("test_case[") and row.endswith("]"):
        return row[len("test_case["):-1]
    return row


def scenario_stage(name: GatewayName, options: CheckOptions, folder: Path, progress: Progress) -> dict[str, Any]:
    """`rig run SCENARIO --gateway NAME` in a subprocess; the summary's counts."""
    run_dir = folder / "run"
    command = [sys.executable, "-m", "rig", "run", options.scenario, "--gateway", name.portable_text(),
               "--out", str(run_dir), "--database", f"rc_run_{uuid.uuid4().hex[:8]}"]
    if options.scenario_duration is not None:
        command += ["--duration", f"{options.scenario_duration:g}"]
    progress(f"  {' '.join(command[2:])} (log {folder / 'run.log'})")
    with (folder / "run.log").open("w") as log:
        code = subprocess.run(command, cwd=project_root(), stdout=log, stderr=subprocess.STDOUT, check=False,
                              timeout=3600).returncode
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        tail = (folder / "run.log").read_text(errors="replace").strip().splitlines()[-3:]
        return {"ok": False, "error": f"rig run exited {code} without a summary: {' | '.join(tail)}"}
    summary = json.loads(summary_path.read_text())
    figures = summary.get("figures", {})
    moved = summary.get("gateway_counters", {})
    counts = {"oracle_findings": figures.get("oracle_findings"),
              "lost_writes": figures.get("lost_writes"),
              "verify_problems": len(summary.get("verify_problems", [])),
              "final_sync_failures": len(summary.get("final_sync_failures", [])),
              "protocol_errors": summary.get("protocol_errors", {}).get("total"),
              "docs_moved": sum(float(v) for k, v in moved.items() if "doc_push_count" in k or "rev_send_count" in k),
              "p95_write_to_arrival_s": figures.get("p95_write_to_arrival_s")}
    progress(f"  scenario: {counts}")
    return {"ok": True, "exit_code": code, "counts": counts, "devices": summary.get("devices"),
            "gateway": summary.get("gateway"), "oracle": summary.get("oracle"), "run_dir": str(run_dir)}


def verdict_text(comparison: Comparison | dict[str, Any]) -> str:
    data = comparison.as_dict() if isinstance(comparison, Comparison) else comparison
    findings = data["findings"]
    if not findings:
        return (f"release check PASSED: no conformance difference, no regression beyond "
                f"{data['tolerance'] * 100:.0f} % against {data['baseline']}")
    lines = [f"release check FAILED: {len(findings)} finding(s) against {data['baseline']}"]
    lines += [f"  {f['kind']}: {f['gateway']}: {f['subject']}: {f['detail']}" for f in findings[:40]]
    if len(findings) > 40:
        lines.append(f"  ... and {len(findings) - 40} more in the report")
    return "\n".join(lines)
