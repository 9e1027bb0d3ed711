"""`rig report`, `rig compare` and `rig dashboards`: run reports, run comparisons, Grafana dashboards."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rig._errors import ConfigError
from rig._paths import runs_dir


def register(commands: Any) -> None:
    report = commands.add_parser("report", help="(re)build a run's self-contained HTML report",
                                 description="Reads a finished run directory (summary.json, worker-*.json) and "
                                             "writes RUN_DIR/report.html: throughput and device states over time, "
                                             "latency distributions, wakes by trigger, conformance findings.")
    report.add_argument("run_dir", nargs="?", type=Path,
                        help="run directory (default: the newest runs/run-* of this directory)")
    report.add_argument("--out", type=Path, help="HTML file to write (default RUN_DIR/report.html)")
    report.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="also photograph the report's first screen with headless Chromium (the README's "
                             "picture: --screenshot docs/images/report.png)")
    report.set_defaults(handler=_report)

    compare = commands.add_parser("compare", help="compare two runs: key figures, regressions of B against A",
                                  description="Prints the key figures of two runs with B's regressions against A "
                                              "flagged, and writes an HTML comparison with plots.")
    compare.add_argument("run_a", type=Path, help="the baseline run directory")
    compare.add_argument("run_b", type=Path, help="the run to judge against it")
    compare.add_argument("--out", type=Path,
                         help="HTML file to write (default runs/compare-<A>-vs-<B>.html)")
    compare.add_argument("--tolerance", type=float, default=0.10,
                         help="relative change that counts as a regression (default 0.10)")
    compare.add_argument("--fail-on-regression", action="store_true", help="exit 1 when B regresses")
    compare.set_defaults(handler=_compare)

    dashboards = commands.add_parser("dashboards", help="regenerate the Grafana dashboards JSON",
                                     description="Writes dashboards/grafana/dashboards/*.json from "
                                                 "rig/report/dashboards.py (grafana-foundation-sdk).")
    dashboards.add_argument("--check", action="store_true",
                            help="write nothing; exit 1 if the committed JSON is not the generator's output")
    dashboards.add_argument("--out", type=Path, help="folder (default dashboards/grafana/dashboards)")
    dashboards.set_defaults(handler=_dashboards)


def _latest_run() -> Path:
    candidates = sorted((p for p in runs_dir().glob("run-*") if (p / "summary.json").is_file()),
                        key=lambda p: (p / "summary.json").stat().st_mtime)
    if not candidates:
        raise ConfigError(f"no finished run under {runs_dir()}: run `rig run demo` first, or give RUN_DIR")
    return candidates[-1]


def _report(args: argparse.Namespace) -> int:
    from rig.report.run_report import write_report

    path = write_report(args.run_dir or _latest_run(), args.out)
    print(f"report: {path}")
    print(f"open it in a browser: file://{path.resolve()}")
    if args.screenshot:
        from rig.report.screenshot import screenshot

        print(f"screenshot: {screenshot(path, args.screenshot)}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from rig.report.compare import write_comparison
    from rig.report.data import load_run

    a, b = load_run(args.run_a), load_run(args.run_b)
    out = args.out or runs_dir() / f"compare-{a.name}-vs-{b.name}.html"
    rows, text = write_comparison(a, b, out, args.tolerance)
    print(text)
    print(f"comparison: {out}")
    regressed = any(row.verdict == "regression" for row in rows)
    return 1 if regressed and args.fail_on_regression else 0


def _dashboards(args: argparse.Namespace) -> int:
    from rig.report.dashboards import stale, write

    if args.check:
        outdated = stale(args.out)
        for name in outdated:
            print(f"stale: {name} (run `rig dashboards`)")
        if not outdated:
            print("dashboards are up to date")
        return 1 if outdated else 0
    for path in write(args.out):
        print(path)
    return 0
