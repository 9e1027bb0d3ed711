"""`rig release-check --gateway A --gateway B ...`: conformance, benchmarks and a phone fleet, side by side."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rig._paths import runs_dir

GATEWAY_HELP = ("a Sync Gateway by name: LABEL=version:main, LABEL=binary:PATH, LABEL=image:IMAGE (docker backend), "
                "LABEL=url:PUBLIC_URL,ADMIN_URL[,METRICS_URL] (a running gateway); each optionally +config:FILE.json "
                "({\"database\": {...}, \"server\": {...}} laid over the rig's config)")


def register(commands: Any) -> None:
    from rig.release.check import BENCH_PARTS, CONFORMANCE_CLIENTS, DEFAULT_BENCH_PARTS, STAGES
    from rig.release.compare import DEFAULT_TOLERANCE

    check = commands.add_parser(
        "release-check", help="compare Sync Gateway builds: conformance, benchmarks, a phone fleet; exit 1 on a "
                              "difference or regression",
        description="Runs, for every gateway, the conformance suite, a fixed benchmark set (gateway CPU per "
                    "document) and a short phone-fleet scenario judged by the oracle, then compares every gateway "
                    "with the first (the baseline). Writes release-check.json and report.html. Exit codes: 0 no "
                    "difference, 1 a conformance difference, a regression beyond the tolerance or a stage that "
                    "failed where the baseline's did not, 2 the check could not run (bad option, no gateway). "
                    "Completed stages are kept in --out: run the same command again to resume.")
    check.add_argument("--gateway", action="append", required=True, metavar="NAME", help=GATEWAY_HELP)
    check.add_argument("--out", type=Path, help="output folder (default runs/release-check-<time>; give the same "
                                                "folder again to resume an interrupted check)")
    check.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    check.add_argument("-k", dest="select", help="conformance: only the cases matching this pytest -k expression")
    check.add_argument("--clients", default=",".join(CONFORMANCE_CLIENTS),
                       help="conformance: the Couchbase Lite releases the devices emulate, the suite run once for "
                            f"each (default {','.join(CONFORMANCE_CLIENTS)})")
    check.add_argument("--workers", type=int, default=2, help="conformance: pytest-xdist workers (default 2)")
    check.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                       help=f"relative growth of gateway CPU per document that is a regression "
                            f"(default {DEFAULT_TOLERANCE})")
    check.add_argument("--bench-docs", type=int, default=2000, help="benchmark: seeded documents (default 2000)")
    check.add_argument("--bench-repeats", type=int, default=5, help="benchmark: measurements per figure (default 5)")
    check.add_argument("--bench-parallel", type=int, default=4, help="benchmark: devices pulling in parallel")
    check.add_argument("--bench-parts", default=",".join(DEFAULT_BENCH_PARTS),
                       help=f"benchmark parts, comma-separated, of {', '.join(BENCH_PARTS)}")
    check.add_argument("--fleet-devices", type=int, default=20, help="benchmark: sustained fleet size")
    check.add_argument("--fleet-seconds", type=float, default=10.0, help="benchmark: sustained fleet seconds")
    check.add_argument("--storm-devices", type=int, default=100, help="benchmark: wake storm devices")
    check.add_argument("--scenario", default="release", help="phone-fleet scenario (default scenarios/release.toml)")
    check.add_argument("--scenario-duration", type=float, help="override the scenario's duration (real seconds)")
    check.add_argument("--fresh", action="store_true", help="run every stage again (ignore kept results)")
    check.set_defaults(handler=_release_check)


def _csv(text: str, known: tuple[str, ...], option: str) -> tuple[str, ...]:
    from rig._errors import ConfigError, did_you_mean

    items = tuple(p.strip() for p in text.split(",") if p.strip())
    for item in items:
        if item not in known:
            raise ConfigError(f"{option} {text!r}: unknown {item!r}{did_you_mean(item, known)}; "
                              f"choose from {', '.join(known)}")
    if not items:
        raise ConfigError(f"{option}: empty; choose from {', '.join(known)}")
    return items


def _release_check(args: argparse.Namespace) -> int:
    from rig._errors import ConfigError
    from rig.gateway.named import load_settings, parse_gateway, unique_labels
    from rig.release.bench import BenchSizes
    from rig.release.check import BENCH_PARTS, STAGES, CheckOptions, run_check, verdict_text

    names = unique_labels([parse_gateway(text) for text in args.gateway])
    if len(names) < 2:
        raise ConfigError("--gateway: give at least two gateways (the first is the baseline)")
    for name in names:
        load_settings(name.config)  # a bad settings file fails now, not after the first gateway's stages
    if args.workers < 1 or args.bench_docs < 1 or args.bench_repeats < 1 or args.tolerance < 0:
        raise ConfigError("--workers, --bench-docs and --bench-repeats must be at least 1, --tolerance at least 0")
    sizes = BenchSizes(docs=args.bench_docs, repeats=args.bench_repeats, parallel=args.bench_parallel,
                       fleet_devices=args.fleet_devices, fleet_seconds=args.fleet_seconds,
                       storm_devices=args.storm_devices)
    out: Path = args.out or runs_dir() / f"release-check-{time.strftime('%Y%m%d-%H%M%S')}"
    from rig.replicator.clients import RELEASES

    options = CheckOptions(out, stages=_csv(args.stages, STAGES, "--stages"), select=args.select,
                           clients=_csv(args.clients, tuple(RELEASES), "--clients"),
                           workers=args.workers, sizes=sizes,
                           bench_parts=_csv(args.bench_parts, BENCH_PARTS, "--bench-parts"),
                           scenario=args.scenario, scenario_duration=args.scenario_duration,
                           tolerance=args.tolerance, fresh=args.fresh)
    print(f"release check of {len(names)} gateways (baseline {names[0].label}) into {out}", flush=True)
    document = run_check(names, options, progress=lambda line: print(line, flush=True))
    print(verdict_text(document["comparison"]))
    print(f"report: {out / 'report.html'}; JSON: {out / 'release-check.json'}")
    return 0 if document["comparison"]["passed"] else 1
