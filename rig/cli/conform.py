"""`rig conform`: run the access-control conformance suite against one or more Sync Gateways."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rig._errors import ConfigError
from rig._paths import runs_dir
from rig.oracle.report import RunResult


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
    conform.add_argument("--gateway", action="append", default=[], metavar="NAME",
                         help="a gateway by name (repeatable): LABEL=version:V, binary:PATH, image:IMAGE, "
                              "url:PUBLIC,ADMIN[,METRICS], each optionally +config:FILE.json (see rig release-check)")
    conform.add_argument("--cbl", metavar="RELEASES",
                         help="Couchbase Lite releases the devices behave as, comma-separated, one run each "
                              "(default: every release the rig emulates, see docs/clients.md)")
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
    if not targets and not args.gateway:
        targets.append((DEFAULT_VERSION, find_binary(DEFAULT_VERSION) or build(DEFAULT_VERSION)))
    labels: dict[str, int] = {}
    unique: list[tuple[str, Path]] = []
    for label, binary in targets:
        labels[label] = labels.get(label, 0) + 1
        unique.append((label if labels[label] == 1 else f"{label}#{labels[label]}", binary))
    return unique


def releases(text: str | None) -> list[str]:
    """`--cbl 3.3,4.1` as release names in the order given (default: all); unknown ones are a ConfigError."""
    from rig.replicator.clients import RELEASES, client_release

    if text is None:
        return list(RELEASES)
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ConfigError("--cbl: name at least one release")
    return list(dict.fromkeys(client_release(name, where="--cbl").name for name in names))


def run_label(gateway: str, cbl: str, several: bool) -> str:
    """A run's column: the gateway's label, with the release when several releases run."""
    return f"{gateway} cbl {cbl}" if several else gateway


def folder_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.#" else "_" for c in label)


def _conform(args: argparse.Namespace) -> int:
    from rig.conformance import default_spec_path
    from rig.conformance.runner import MODES, Target, run_suite
    from rig.oracle import load
    from rig.oracle.report import run_text, side_by_side

    spec_path: Path = args.routing or default_spec_path()
    spec = load(spec_path)  # fail early, naming the file and key
    if spec.collections != ("_default",) and args.sync_function is not None:
        # Named collections: a folder with one function per collection, `<scope.name>.js`.
        missing = [c for c in spec.collections if not (args.sync_function / f"{c}.js").is_file()]
        if missing:
            raise ConfigError(f"--sync-function: {args.sync_function}: the spec's collections need a folder "
                              f"with {', '.join(f'{c}.js' for c in missing)}")
    elif args.sync_function is not None and not args.sync_function.is_file():
        raise ConfigError(f"--sync-function: {args.sync_function}: no such file")
    if args.workers < 1:
        raise ConfigError("--workers: must be at least 1")
    if args.mutants:
        from rig.cli.mutants import run_mutants_command

        return run_mutants_command(args, spec_path, _targets(args))
    cbls = releases(args.cbl)
    against = "gateway" if args.sync_function is not None and args.routing is None else "spec"
    announce_mode(against, spec_path, args.sync_function, sys.stderr if args.json else sys.stdout)
    out: Path = args.out or runs_dir() / f"conform-{time.strftime('%Y%m%d-%H%M%S')}"
    pytest_args = ("-k", args.select) if args.select else ()
    runs = []
    for gateway_label, binary in _targets(args):
        for cbl in cbls:
            label = run_label(gateway_label, cbl, len(cbls) > 1)
            folder = out / folder_name(label)
            run = run_suite(Target(label, binary), folder, spec=spec_path, sync_function=args.sync_function,
                            against=against, workers=args.workers, pytest_args=pytest_args, cbl=cbl)
            runs.append(run)
            if not args.json:
                print(run_text(run))
                print(f"  JUnit XML: {folder / 'junit.xml'}; pytest log: {folder / 'pytest.log'}")
    runs += _named_runs(args, out, spec_path, against, pytest_args, cbls)  # --gateway NAME (rig.gateway.resolve)

    if args.json:
        print(json.dumps([run_json(r) for r in runs], indent=2))
    elif len(runs) > 1:
        print()
        print(side_by_side(runs))
    if against == "gateway" and not args.json:
        print(f"NOTE: {MODES['gateway']}")
    return 0 if all(r.passed for r in runs) else 1


def announce_mode(against: str, spec_path: Path, sync_function: Path | None, out: TextIO) -> None:
    """Say, before anything runs, what this run can judge and what it cannot (stderr under --json)."""
    from rig.conformance.runner import MODES

    function = str(sync_function) if sync_function is not None else f"rendered from {spec_path}"
    if against == "gateway":
        print("=" * 100, file=out)
        print(f"MODE: {MODES['gateway']}.", file=out)
        print(f"  sync function: {function}; no --routing given. Pass --routing SPEC to judge writes and policy.",
              file=out)
        print("=" * 100, file=out)
    else:
        print(f"MODE: {MODES['spec']}; spec {spec_path}; sync function {function}", file=out)


def run_json(run: RunResult) -> dict[str, Any]:
    """A run's rows and verdict as JSON: one entry per pytest item."""
    return {"label": run.label, "cbl": run.cbl, "mode": run.mode, "seconds": round(run.seconds, 1),
            "verdict": "PASS" if run.passed else "FAIL", "failures": run.failures(),
            "pytest": {"exit_code": run.pytest_exit, "summary": run.pytest_summary},
            "problems": run.problems, "counts": dict(run.counts),
            "cases": {n: {"outcome": c.outcome, "seconds": c.seconds, "message": c.message[:500],
                          "findings": [f.to_json() for f in c.findings]}
                      for n, c in sorted(run.cases.items())}}


def _named_runs(args: argparse.Namespace, out: Path, spec_path: Path, against: str,
                pytest_args: tuple[str, ...], cbls: list[str]) -> list[Any]:
    """The suite against each --gateway NAME, started (or reached) by rig.gateway.resolve, once per release."""
    from rig.conformance.runner import Target, run_suite
    from rig.gateway.named import parse_gateway, unique_labels
    from rig.gateway.resolve import started_gateway
    from rig.oracle.report import run_text

    runs = []
    for name in unique_labels([parse_gateway(text) for text in args.gateway]):
        with started_gateway(name, out / name.label / "gateway",
                             progress=lambda line: print(line, flush=True)) as gateway:
            c = gateway.controller
            for cbl in cbls:
                label = run_label(name.label, cbl, len(cbls) > 1)
                folder = out / name.label / folder_name(f"cbl{cbl}") if len(cbls) > 1 else out / name.label
                run = run_suite(Target(label, None, urls=(c.public_url, c.admin_url, c.metrics_url)), folder,
                                spec=spec_path, sync_function=args.sync_function, against=against,
                                workers=args.workers, pytest_args=pytest_args, env=gateway.subprocess_env(),
                                cbl=cbl)
                runs.append(run)
                if not args.json:
                    print(run_text(run))
                    print(f"  JUnit XML: {folder / 'junit.xml'}; pytest log: {folder / 'pytest.log'}")
    return runs
