"""`rig check RUN_DIR`: the oracle over a finished routing run's observations, again (no gateway needed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    check = commands.add_parser("check", help="re-check a routing run's observations with the oracle",
                                description="Replays the observations a `rig run` with a routing spec recorded "
                                            "(RUN_DIR/observations-*.jsonl) through a routing spec, prints the "
                                            "findings and writes RUN_DIR/oracle-findings.json.")
    check.add_argument("run_dir", type=Path, help="a run directory")
    check.add_argument("--routing", help="routing spec name or .toml path (default: the one the run used)")
    check.add_argument("--examples", type=int, default=10, help="findings to print (default 10)")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from rig._errors import ConfigError
    from rig.load.scenario import routing_spec_path
    from rig.oracle.routing import load
    from rig.oracle.run_check import check_run, write_findings

    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        raise ConfigError(f"no run directory {run_dir}")
    ref = args.routing
    if ref is None:
        summary = run_dir / "summary.json"
        ref = json.loads(summary.read_text()).get("routing_spec") if summary.is_file() else None
        if not ref:
            raise ConfigError(f"{run_dir}: the run names no routing spec; pass --routing SPEC")
    result = check_run(load(routing_spec_path(ref)), run_dir)
    path = write_findings(run_dir, result)
    print(result.text(args.examples))
    print(f"findings: {path} ({result.seconds:.1f} s)")
    return 1 if result.findings else 0
