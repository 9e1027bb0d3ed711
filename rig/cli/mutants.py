"""`rig conform --mutants`: its options and its printout (the work is in rig.conformance.mutation)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rig._errors import ConfigError
from rig._paths import runs_dir


def add_arguments(conform: Any) -> None:
    group = conform.add_argument_group(
        "mutation testing", "with --mutants, the suite is run against mutants of the function rendered from the "
                            "routing spec (one mistake in one rule each) and must kill them; see docs/mutants.md")
    group.add_argument("--mutants", action="store_true",
                       help="run the cases against every mutant of the rendered function and report the kill rate "
                            "and every survivor")
    group.add_argument("--mutants-operator", metavar="OPS",
                       help="only these operators or classes, comma-separated (e.g. require,channel.drop)")
    group.add_argument("--mutants-limit", type=int, metavar="N", help="only the first N mutants (after the filter)")
    group.add_argument("--mutants-one-per-operator", action="store_true", help="only the first mutant of each operator")
    group.add_argument("--mutants-cases", metavar="PATTERNS",
                       help="only the cases matching these comma-separated glob patterns (shows what a weaker "
                            "case set lets survive)")
    group.add_argument("--mutants-writes", type=int, default=1000, metavar="N",
                       help="random writes per mutant in the equivalence check under node (default 1000)")
    group.add_argument("--mutants-min-kill", type=float, default=95.0, metavar="PERCENT",
                       help="exit 1 below this kill rate (default 95)")
    group.add_argument("--mutants-timeout", type=float, default=3600.0, metavar="SECONDS",
                       help="give up after this long (default 3600)")


def run_mutants_command(args: argparse.Namespace, spec_path: Path, targets: list[tuple[str, Path]]) -> int:
    from rig.conformance.mutation import run_mutants
    from rig.conformance.mutation_report import report_text

    if args.sync_function is not None:
        raise ConfigError("--mutants: mutants are made from the function rendered from --routing; "
                          "leave out --sync-function")
    if len(targets) != 1:
        raise ConfigError("--mutants: give at most one gateway (--gateway-version or --gateway-binary)")
    if args.select:
        raise ConfigError("--mutants: choose cases with --mutants-cases PATTERNS (globs), not -k")
    if args.mutants_limit is not None and args.mutants_limit < 1:
        raise ConfigError("--mutants-limit: must be at least 1")
    if args.mutants_writes < 10:
        raise ConfigError("--mutants-writes: must be at least 10")
    out: Path = args.out or runs_dir() / f"mutants-{time.strftime('%Y%m%d-%H%M%S')}"
    _, binary = targets[0]
    report = run_mutants(spec_path, binary, out, workers=args.workers, operators=args.mutants_operator,
                         limit=args.mutants_limit, one_per_operator=args.mutants_one_per_operator,
                         case_patterns=args.mutants_cases, writes=args.mutants_writes,
                         progress=(lambda _line: None) if args.json else print, timeout=args.mutants_timeout)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report_text(report, verbose=True))
        print(f"  results: {out / 'mutants.json'}; functions: {out / 'functions'}; pytest logs: {out}/*/pytest.log")
    ok = report.kill_rate >= args.mutants_min_kill and not report.baseline_failures and not report.of("error")
    return 0 if ok else 1
