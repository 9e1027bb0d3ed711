"""`rig conform`: run the access-control conformance suite against one or more Sync Gateways."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rig._errors import ConfigError
from rig._paths import runs_dir


def register(commands: Any) -> None:
    conform = commands.add_parser(
        "conform", help="check that the gateway routes and authorises every document as a routing spec says",
        description="Runs the conformance cases (pytest -n WORKERS, one database per case) against a real "
                    "Sync Gateway and reports every leak, miss, stale revision, unapplied revocation and wrongly "
                    "accepted or rejected write. With several gateways, prints the results side by side.")
    conform.add_argument("--routing", type=Path, help="routing spec (TOML); default gateway_config/routing/teams.toml")
    conform.add_argument("--sync-function", type=Path,
                         help="sync function under test (default: rendered from the spec); without --routing the "
                              "findings compare delivery with the gateway's own view (_raw channels, all_channels)")
    conform.add_argument("--gateway-version", action="append", default=[], metavar="VERSION",
                         help="build this Sync Gateway release and run against it (repeatable)")
    conform.add_argument("--gateway-binary", action="append", default=[], metavar="[LABEL=]PATH",
                         help="run against this Sync Gateway binary (repeatable)")
    conform.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (default 2)")
    conform.add_argument("-k", dest="select", help="only the cases matching this pytest -k expression")
    conform.add_argument("--out", type=Path, help="results folder (default runs/conform-<time>/)")
    conform.add_argument("--json", action="store_true", help="print the results as JSON instead of text")
    from rig.cli.mutants import add_arguments

    add_arguments(conform)
    conform.set_defaults(handler=_conform)


def _targets(args: argparse.Namespace) -> list[tuple[str, Path]]:
    from rig.gateway.build import DEFAULT_VERSION, build, find_binary

    targets: list[tuple[str, Path]] = []
    for version in args.gateway_version:
        targets.append((version, find_binary(version) or build(version)))
    for given in args.gateway_binary:
        label, _, path = given.rpartition("=")
        binary = Path(path)
        if not binary.is_file():
            raise ConfigError(f"--gateway-binary: {binary}: no such file")
        targets.append((label or binary.name, binary))
    if not targets:
        targets.append((DEFAULT_VERSION, find_binary(DEFAULT_VERSION) or build(DEFAULT_VERSION)))
    labels: dict[str, int] = {}
    unique: list[tuple[str, Path]] = []
    for label, binary in targets:
        labels[label] = labels.get(label, 0) + 1
        unique.append((label if labels[label] == 1 else f"{label}#{labels[label]}", binary))
    return unique


def _conform(args: argparse.Namespace) -> int:
    from rig.conformance import default_spec_path
    from rig.conformance.runner import Target, run_suite
    from rig.oracle import load
    from rig.oracle.report import run_text, side_by_side

    spec_path: Path = args.routing or default_spec_path()
    load(spec_path)  # fail early, naming the file and key
    if args.sync_function is not None and not args.sync_function.is_file():
        raise ConfigError(f"--sync-function: {args.sync_function}: no such file")
    if args.workers < 1:
        raise ConfigError("--workers: must be at least 1")
    if args.mutants:
        from rig.cli.mutants import run_mutants_command

        return run_mutants_command(args, spec_path, _targets(args))
    against = "gateway" if args.sync_function is not None and args.routing is None else "spec"
    out: Path = args.out or runs_dir() / f"conform-{time.strftime('%Y%m%d-%H%M%S')}"
    pytest_args = ("-k", args.select) if args.select else ()
    runs = []
    for label, binary in _targets(args):
        folder = out / "".join(c if c.isalnum() or c in "-_.#" else "_" for c in label)
        run = run_suite(Target(label, binary), folder, spec=spec_path, sync_function=args.sync_function,
                        against=against, workers=args.workers, pytest_args=pytest_args)
        runs.append(run)
        if not args.json:
            print(run_text(run))
            print(f"  JUnit XML: {folder / 'junit.xml'}; pytest log: {folder / 'pytest.log'}")
    if args.json:
        print(json.dumps([{"label": r.label, "seconds": round(r.seconds, 1),
                           "cases": {n: {"outcome": c.outcome, "seconds": c.seconds,
                                         "findings": [f.to_json() for f in c.findings]}
                                     for n, c in sorted(r.cases.items())}} for r in runs], indent=2))
    elif len(runs) > 1:
        print()
        print(side_by_side(runs))
    ok = all(r.cases and all(c.outcome == "passed" for c in r.cases.values()) for r in runs)
    return 0 if ok else 1
