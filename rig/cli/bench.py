"""`rig bench ...`: benchmarks, written as JSON (summarised by hand in docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rig._paths import runs_dir


def register(commands: Any) -> None:
    bench = commands.add_parser("bench", help="benchmarks (results as JSON)")
    sub = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")
    from rig.gateway.build import DEFAULT_VERSION, RELEASES

    rep = sub.add_parser("replicate", help="one and N devices pulling then pushing ~1 KB documents")
    rep.add_argument("--docs", type=int, default=10_000, help="documents per scenario (default 10000)")
    rep.add_argument("--parallel", type=int, default=10, help="devices in the parallel scenarios (default 10)")
    rep.add_argument("--cbl", default="3.3,4.1",
                     help="Couchbase Lite releases to run every scenario with, comma-separated (default 3.3,4.1)")
    rep.add_argument("--version", default=DEFAULT_VERSION, choices=list(RELEASES))
    rep.add_argument("--binary", type=Path, help="Sync Gateway binary (default: the built --version)")
    rep.add_argument("--out", type=Path, help="JSON result file (default runs/bench/replicate-<time>.json)")
    rep.set_defaults(handler=_replicate)

    fleet = sub.add_parser("fleet", help="hot path under growing fleets, a wake storm, memory per sleeping device")
    fleet.add_argument("--counts", default="10,25,50,100,200",
                       help="device counts for the sustained part, grown until throughput stops growing")
    fleet.add_argument("--seconds", type=float, default=15.0, help="measured seconds per device count")
    fleet.add_argument("--writes-per-s", type=float, default=4.0, help="documents each device writes per second")
    fleet.add_argument("--storm", type=int, default=1000, help="sleeping devices woken at once")
    fleet.add_argument("--storm-concurrency", type=int, default=100,
                       help="connections open at once during the storm")
    fleet.add_argument("--memory-devices", type=int, default=1000, help="sleeping devices for the memory part")
    fleet.add_argument("--parts", default="sustained,storm,memory",
                       help="which parts to run, comma-separated (default all: sustained,storm,memory)")
    fleet.add_argument("--version", default=DEFAULT_VERSION, choices=list(RELEASES))
    fleet.add_argument("--binary", type=Path)
    fleet.add_argument("--out", type=Path)
    fleet.add_argument("--gevent", action="store_true",
                       help="run the devices as `rig run` does: gevent-patched, greenlets instead of OS threads")
    fleet.add_argument("--driver", choices=["threads", "loop"], default="threads",
                       help="sustained part: a thread (greenlet with --gevent) per replication and per writer, or "
                            "every device on one selector loop (rig.device.loop)")
    fleet.set_defaults(handler=_fleet)

    soak = sub.add_parser("soak", help="a long steady run below saturation: memory growth and lost documents")
    soak.add_argument("--devices", type=int, default=140,
                      help="continuously replicating devices (default 140: 70%% of the saturation found here)")
    soak.add_argument("--minutes", type=float, default=30.0)
    soak.add_argument("--writes-per-s", type=float, default=4.0, help="rewrites per device per second")
    soak.add_argument("--sample-s", type=float, default=30.0, help="seconds between memory samples")
    soak.add_argument("--version", default=DEFAULT_VERSION, choices=list(RELEASES))
    soak.add_argument("--binary", type=Path)
    soak.add_argument("--out", type=Path)
    soak.set_defaults(handler=_soak)

    cap = sub.add_parser("capacity", help="sleeping devices one gateway core wakes and brings up to date inside "
                                          "the silent-push budget, at p99")
    cap.add_argument("--steps", default="100,500,1000,2000,3000,4000,5000,6000,8000",
                     help="storm sizes, grown until the p99 crosses the budget (default 100,500,1000, then "
                          "1000 apart to 6000, and 8000)")
    cap.add_argument("--budget", type=float, default=None,
                     help="seconds a woken app has (default: the ios-active profile's silent-push budget, 30)")
    cap.add_argument("--backlog", type=int, default=10, help="new documents per device before each storm")
    cap.add_argument("--doc-bytes", type=int, default=1000, help="body size of each backlog document")
    cap.add_argument("--workers", default="auto",
                     help="device processes, or auto: one per core left beside the gateway's (default auto)")
    cap.add_argument("--gateway-cores", type=int, default=1,
                     help="cores the gateway is pinned to, the rest for the rig (0: no pinning; default 1)")
    cap.add_argument("--max-minutes", type=float, default=9.0, help="no storm starts that would end after this, "
                                                                      "its setup estimated from the last (default 9)")
    cap.add_argument("--saturation-cpu", type=float, default=None, help="a rig process's CPU ratio that counts as "
                                                                       "saturated (default 0.9 of a core)")
    cap.add_argument("--saturation-lag", type=float, default=None, help="loop lag, s, that counts as saturated "
                                                                       "(default 0.5)")
    cap.add_argument("--version", default=DEFAULT_VERSION, choices=list(RELEASES))
    cap.add_argument("--binary", type=Path)
    cap.add_argument("--out", type=Path, help="JSON result (default runs/bench/capacity-<time>.json); the plot "
                                              "(.svg) and the report (.html) are written beside it")
    cap.set_defaults(handler=_capacity)


def _replicate(args: argparse.Namespace) -> int:
    from rig.bench import replicate
    from rig.gateway.build import build
    from rig.replicator.clients import client_release

    releases = tuple(client_release(name.strip(), where="--cbl").name for name in args.cbl.split(",") if name.strip())
    binary = args.binary or build(args.version)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = runs_dir() / "bench" / f"replicate-{stamp}"
    result = replicate.run(binary, run_dir, docs=args.docs, parallel=args.parallel, releases=releases)
    out = args.out or runs_dir() / "bench" / f"replicate-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"{'cbl':4} {'scenario':36} {'docs/s':>9} {'rig cpu/1k':>11} {'SG cpu/1k':>10} {'ratio':>6} "
          f"{'rows/changes':>12} {'conflicts':>9} {'rig cpu max':>11}  valid")
    for row in result["results"]:
        shape = row["replication"]
        print(f"{row['cbl']:4} {row['scenario']:36} {row['docs_per_s']:>9} {row['rig_cpu_s_per_1000_docs']:>11} "
              f"{row['gateway_cpu_s_per_1000_docs']:>10} {row['rig_to_gateway_cpu_ratio']:>6} "
              f"{shape['rows_per_changes_message'] or '-':>12} "
              f"{shape['conflicts_seen_by_devices'] + shape['conflict_writes_on_gateway']:>9} "
              f"{row['rig']['cpu_ratio_max']:>11.2f}  {'yes' if row['valid'] else 'NO'}")
    for row in result["results"]:
        if not row["valid"]:
            print(f"INVALID {row['scenario']}: {row['invalid_reason']}")
    print(f"results: {out}")
    return 0 if result["valid"] else 1


def _fleet(args: argparse.Namespace) -> int:
    from rig.bench import fleet
    from rig.bench.bound import BOUND_LABELS
    from rig.gateway.build import build

    binary = args.binary or build(args.version)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    counts = [int(c) for c in args.counts.split(",") if c]
    result = fleet.run(binary, runs_dir() / "bench" / f"fleet-{stamp}", counts=counts, seconds=args.seconds,
                       writes_per_s=args.writes_per_s, storm=args.storm, storm_concurrency=args.storm_concurrency,
                       memory_devices=args.memory_devices, parts=_parts(args.parts), driver=args.driver)
    result["driver"] = args.driver if args.driver == "loop" or not args.gevent else "gevent"
    result["gevent"] = bool(args.gevent)
    out = args.out or runs_dir() / "bench" / f"fleet-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    for row in result.get("sustained", []):
        shape = row["replication"]
        print(f"sustained {row['devices']:5} devices: {row['push_docs_per_s'] + row['pull_docs_per_s']:8.1f} docs/s, "
              f"rig {row['rig_cores_busy']:.2f} cores, gateway {row['gateway_cores_busy']:.2f}; "
              f"{shape['rows_per_changes_message']} rows per changes message, conflict rate "
              f"{shape['conflict_rate']}; " + ("valid" if row["valid"] else f"INVALID: {row['invalid_reason']}")
              + (f"\n    {BOUND_LABELS[row['bound']]}: {row['bound_reason']}" if "bound" in row else ""))
    print(f"results: {out}")
    return 0


def _parts(text: str) -> set[str]:
    from rig._errors import ConfigError

    parts = {p.strip() for p in text.split(",") if p.strip()}
    unknown = parts - {"sustained", "storm", "memory"}
    if unknown or not parts:
        raise ConfigError(f"--parts {text!r}: choose from sustained, storm, memory (comma-separated)")
    return parts


def _soak(args: argparse.Namespace) -> int:
    from rig.bench import soak
    from rig.gateway.build import build

    binary = args.binary or build(args.version)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result = soak.run(binary, runs_dir() / "bench" / f"soak-{stamp}", devices=args.devices, minutes=args.minutes,
                      writes_per_s=args.writes_per_s, sample_s=args.sample_s)
    out = args.out or runs_dir() / "bench" / f"soak-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    check = result["final_check"]
    print(f"soak: {result['devices']} devices, {result['minutes']:g} min, {result['docs_moved_per_s']} docs/s; "
          f"rig memory {result['rig_rss_growth_mib_per_hour_second_half']:+.1f} MiB/h, gateway "
          f"{result['gateway_rss_growth_mib_per_hour_second_half']:+.1f} MiB/h (second half); "
          f"lost {check['lost']}, stale {check['stale']}, leaked {check['leaked']}; "
          f"{result['replication']['rows_per_changes_message']} rows per changes message, conflict rate "
          f"{result['replication']['conflict_rate']}")
    if not result["valid"]:
        print(f"INVALID: {result['invalid_reason']}")
    print(f"results: {out}")
    return 0 if check["lost"] == check["stale"] == check["leaked"] == 0 else 1


def _capacity(args: argparse.Namespace) -> int:
    from rig._errors import ConfigError
    from rig.bench import capacity
    from rig.device.profile import find_profile
    from rig.gateway.build import build
    from rig.metrics.saturation import CPU_THRESHOLD, LAG_THRESHOLD_S
    from rig.report import capacity as capacity_report
    from rig.report.plots import capacity as capacity_plot

    try:
        steps = tuple(sorted({int(n) for n in args.steps.split(",") if n.strip()}))
    except ValueError:
        raise ConfigError(f"--steps {args.steps!r}: storm sizes, comma-separated integers") from None
    if not steps or steps[0] < 1:
        raise ConfigError(f"--steps {args.steps!r}: at least one storm of one device or more")
    budget = args.budget if args.budget is not None else find_profile("ios-active").push.budget_seconds
    settings = capacity.Settings(
        steps=steps, budget_s=budget, backlog=args.backlog, doc_bytes=args.doc_bytes,
        workers=capacity.plan_workers(args.workers, steps[-1], args.gateway_cores),
        gateway_cores=args.gateway_cores, max_seconds=args.max_minutes * 60,
        cpu_threshold=CPU_THRESHOLD if args.saturation_cpu is None else args.saturation_cpu,
        lag_threshold_s=LAG_THRESHOLD_S if args.saturation_lag is None else args.saturation_lag)
    binary = args.binary or build(args.version)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result = capacity.run(binary, runs_dir() / "bench" / f"capacity-{stamp}", settings)
    out = args.out or runs_dir() / "bench" / f"capacity-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    out.with_suffix(".svg").write_text(capacity_plot(result["steps"], budget))
    out.with_suffix(".html").write_text(capacity_report.render(result))
    print(" | ".join(capacity_report.HEADERS))
    for row in capacity_report.rows(result):
        print(" | ".join(f"{v:.3g}" if isinstance(v, float) else "-" if v is None else str(v) for v in row))
    print(result["verdict"]["text"])
    print(f"results: {out} (plot {out.with_suffix('.svg').name}, report {out.with_suffix('.html').name})")
    return 0 if result["verdict"]["passed"] and result["valid"] else 1
