"""`rig run SCENARIO`: a fleet of devices against Sync Gateway, headless, with results and thresholds."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rig._errors import ConfigError
from rig._paths import runs_dir


def register(commands: Any) -> None:
    from rig.gateway.build import DEFAULT_VERSION, RELEASES

    run = commands.add_parser("run", help="run a load scenario (devices as locust users) and write results",
                              description="Starts Sync Gateway (local by default), seeds users and documents, "
                                          "spawns the scenario's devices, runs, stops cleanly, checks what every "
                                          "device holds and writes results.")
    run.add_argument("scenario", help="scenario name in scenarios/ (e.g. demo, smoke) or a .toml path")
    run.add_argument("--version", default=DEFAULT_VERSION, choices=list(RELEASES))
    run.add_argument("--binary", type=Path, help="local Sync Gateway binary (default: the built --version)")
    run.add_argument("--backend", choices=("local", "docker"), default="local",
                     help="the gateway the rig starts: local, a process on loopback (default); docker, a container "
                          "via DOCKER_HOST (its webhooks reach the rig on this machine's bridge address)")
    run.add_argument("--image", help="docker backend: image to run (default localhost/sync-gateway:<version>-ce, "
                                     "built from the Go-built binary when missing)")
    run.add_argument("--gateway", metavar="NAME",
                     help="the gateway by name: version:V, binary:PATH, image:IMAGE, url:PUBLIC,ADMIN[,METRICS], "
                          "optionally +config:FILE.json (see rig release-check); replaces --backend/--binary/--image")
    run.add_argument("--gateway-url", help="use a running Sync Gateway: its public URL (needs --admin-url)")
    run.add_argument("--admin-url", help="admin URL of the running Sync Gateway")
    run.add_argument("--metrics-url", help="metrics URL of the running Sync Gateway (default: admin URL)")
    run.add_argument("--workers", type=_workers, default=0, metavar="N|auto",
                     help="locust worker processes on this machine (default 0: everything in this process; "
                          "auto: enough for the fleet on the cores available, see docs/saturation.md)")
    run.add_argument("--saturation-cpu", type=float, default=None, metavar="RATIO",
                     help="a load process using this much of one core for a second is saturated (default 0.9)")
    run.add_argument("--saturation-lag", type=float, default=None, metavar="SECONDS",
                     help="... or whose event loop is this late (default 0.5); `--fail-if rig_saturated>0` "
                          "fails a run whose rig was saturated")
    run.add_argument("--expect-workers", type=int, default=0, metavar="N",
                     help="also wait for N workers started elsewhere with `rig worker --master-host THIS_HOST`")
    run.add_argument("--master-bind-host", default="127.0.0.1",
                     help="where the master listens for workers (0.0.0.0 for other machines or containers)")
    run.add_argument("--master-port", type=int, default=0,
                     help="the master's port (default 5557 with --expect-workers, else a free port)")
    run.add_argument("--worker-timeout", type=float, default=120.0,
                     help="seconds to wait for workers to connect and set up (default 120)")
    run.add_argument("--metrics-host", default="127.0.0.1",
                     help="where this process serves Prometheus metrics (0.0.0.0 in a container)")
    run.add_argument("--metrics-port", type=int, default=0,
                     help="this process's metrics port (default: a free one; a master serves none unless given)")
    run.add_argument("--wait-gateway", type=float, default=0.0, metavar="SECONDS",
                     help="with --gateway-url: wait up to SECONDS for the gateway to answer (compose start-up)")
    run.add_argument("--driver", choices=("loop", "gevent"),
                     help="how each load process drives its devices' replications: loop (default: every "
                          "replication on one event loop per process) or gevent (a greenlet per replication); "
                          "docs/load-runs.md; overrides the scenario's `driver`")
    run.add_argument("--duration", type=float, help="override the scenario's duration in real seconds")
    run.add_argument("--time-scale", type=float, help="override the scenario's time scale K (OS intervals / K)")
    run.add_argument("--fail-if", action="append", default=[], metavar="EXPR",
                     help="exit 1 if true, e.g. 'p95_write_to_arrival_s>2' (repeatable). A scenario with a "
                          "routing spec already fails on any oracle finding ('oracle_findings>0'); naming an "
                          "oracle figure here (e.g. 'oracle_findings>5', 'oracle_leaks>0') replaces that default")
    run.add_argument("--database", help="database to create (default: the scenario's, usually rig; on a gateway "
                                        "given by --gateway-url that has it already, the next free rig-2, rig-3...)")
    run.add_argument("--no-verify", action="store_true", help="skip the final sync and the per-device check")
    run.add_argument("--prepare-only", action="store_true",
                     help="seed the running gateway (--gateway-url) and print the locust command for its web UI")
    run.add_argument("--out", type=Path, help="run directory (default runs/run-<scenario>-<time>)")
    run.add_argument("--fault", action="append", default=[], metavar="KIND@AT[+DOWN]",
                     help="gateway fault during the run (repeatable): kill@20+5 (kill -9 at 20 s, start again "
                          "5 s later), pause@10+8 (frozen 8 s), restart@30, netdown@15+3 (off its network 3 s: "
                          "every device link down for a local gateway); seconds after the devices start")
    run.add_argument("--data-dir", type=Path,
                     help="keep the local gateway's rosmar data in this directory (default: in memory; "
                          "RUN_DIR/gateway-data when a kill or restart fault is given, so data survive it)")
    run.add_argument("--sync-function", type=Path, metavar="FILE.js",
                     help="the database's sync function (default: a routing scenario's spec rendered, else "
                          "gateway_config/sync/default.js); the oracle still judges against the scenario's spec")
    run.set_defaults(handler=_run)

    worker = commands.add_parser(
        "worker", help="join a `rig run --expect-workers N` as one of its locust workers",
        description="Connects to the master (retrying for five minutes), receives its run config and the "
                    "scenario through locust's messages, runs its share of the devices, takes part in the "
                    "final sync and sends its results back: no shared disk. The gateway and its webhooks "
                    "must reach this worker: in a container bind 0.0.0.0; the address sent to the master is "
                    "this host's on the route to the master unless --advertise-host is given.")
    worker.add_argument("--master-host", required=True)
    worker.add_argument("--master-port", type=int, default=5557)
    worker.add_argument("--bind-host", default="127.0.0.1",
                        help="where the push service and metrics endpoint listen (0.0.0.0 in a container)")
    worker.add_argument("--advertise-host", help="address the gateway's webhooks and Prometheus use for this worker")
    worker.add_argument("--push-port", type=int, default=0, help="push service (webhook) port (default: free)")
    worker.add_argument("--metrics-port", type=int, default=0, help="metrics port (default: free)")
    worker.add_argument("--index-hint", type=int, help=argparse.SUPPRESS)
    worker.set_defaults(handler=_worker)


def _workers(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of processes or 'auto', not {text!r}") from None


def _worker(args: argparse.Namespace) -> int:
    from rig.load.worker import serve  # imports locust (gevent) first

    return serve(args.master_host, args.master_port, bind_host=args.bind_host, advertise_host=args.advertise_host,
                 push_port=args.push_port, metrics_port=args.metrics_port, index_hint=args.index_hint)


def _run(args: argparse.Namespace) -> int:
    from rig.faults.gateway import parse_fault
    from rig.gateway import DatabaseSpec, LocalGateway, UrlGateway
    from rig.gateway.build import build
    from rig.load.orchestrate import LOCUSTFILE, prepare, run, scenario_with  # imports locust first
    from rig.load.scenario import find_scenario
    from rig.load.spread import Distribution

    scenario = scenario_with(find_scenario(args.scenario), duration=args.duration, time_scale=args.time_scale)
    if args.database:
        scenario = replace(scenario, database=args.database)
    if args.driver:
        scenario = replace(scenario, driver=args.driver)
    run_dir = args.out or runs_dir() / f"run-{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    faults = [parse_fault(text) for text in args.fault]
    workers = args.workers
    if workers == "auto":
        from rig.load.sizing import available_cores, plan_workers

        plan = plan_workers(scenario.device_count, available_cores(), gateway_local=not args.gateway_url)
        print(plan.reason)
        workers = plan.workers
    spread = Distribution(local=workers, remote=args.expect_workers, bind_host=args.master_bind_host,
                          port=args.master_port, timeout=args.worker_timeout)
    options: dict[str, Any] = {"distribution": spread, "metrics": (args.metrics_host, args.metrics_port),
                               "fail_if": args.fail_if, "verify": not args.no_verify,
                               "sync_function": args.sync_function, "saturation_limits": _limits(args)}
    if scenario.collections and args.sync_function is not None:
        # Named collections: a folder of `<scope.name>.js` (as `rig conform` takes them).
        missing = [c for c in scenario.collections if not (args.sync_function / f"{c}.js").is_file()]
        if missing and scenario.routing is not None:
            raise ConfigError(f"--sync-function: {args.sync_function}: the scenario's collections need a folder "
                              f"with {', '.join(f'{c}.js' for c in missing)}")
        if not args.sync_function.is_dir():
            raise ConfigError(f"--sync-function: {args.sync_function}: named collections need a folder of "
                              "<scope.name>.js")
    elif args.sync_function is not None and not args.sync_function.is_file():
        raise ConfigError(f"--sync-function: no such file: {args.sync_function}")
    if args.prepare_only and not args.gateway_url:
        raise ConfigError("--prepare-only needs a running gateway: start one with `rig gateway up`, then pass "
                          "--gateway-url http://127.0.0.1:4984 --admin-url http://127.0.0.1:4985")
    if scenario.collections and (args.gateway or args.backend == "docker"):
        # Their gateways run a legacy config, which refuses scopes and collections.
        raise ConfigError(f"scenario {scenario.name!r} has named collections ({', '.join(scenario.collections)}): "
                          "run it on the local backend (the rig starts Sync Gateway in persistent config) or "
                          "--gateway-url a persistent-config gateway")
    if args.gateway:
        return _run_named(args, scenario, run_dir, faults, options)
    if args.gateway_url:
        if not args.admin_url:
            raise ConfigError("--gateway-url needs --admin-url (the rig creates users through the admin API)")
        remote = UrlGateway(args.gateway_url, args.admin_url, args.metrics_url)
        if not args.database:  # `rig gateway up` made `rig` already: take the next free name
            scenario = replace(scenario, database=free_database(remote, scenario.database))
        if args.prepare_only:
            config = prepare(scenario, remote, run_dir, sync_function=args.sync_function)[0]
            print(f"prepared {scenario.device_count} devices of {scenario.name!r}; now run locust's web UI with:")
            print(f"  RIG_RUN_CONFIG={run_dir}/run-config-0.json locust -f {LOCUSTFILE} "
                  f"--users {scenario.device_count} --spawn-rate {scenario.ramp_per_s:g}")
            print(f"(devices live {config.duration_s:g} s after the first starts; results in {run_dir} "
                  "when locust quits)")
            return 0
        if any(f.kind != "netdown" for f in faults):
            raise ConfigError("--fault needs a gateway the rig runs itself (leave out --gateway-url); for a "
                              "gateway from `rig gateway up`, use `rig gateway fault` while the run goes "
                              "(netdown works with any gateway: it takes the devices' links down)")
        if args.wait_gateway:
            remote.wait_ready(args.wait_gateway)
        return run(scenario, remote, run_dir, faults=faults, **options)
    data_dir = args.data_dir
    if data_dir is None and any(f.kind in ("kill", "restart") for f in faults):
        data_dir = run_dir / "gateway-data"  # in-memory rosmar would lose every document on the kill
    if args.backend == "docker":
        return _run_on_docker(args, scenario, run_dir, data_dir, faults, options)
    binary = args.binary or build(args.version)
    # Named collections exist only in persistent config (databases made over the admin API).
    gateway = LocalGateway(binary, run_dir / "gateway", databases=[DatabaseSpec("boot")], log_level="warn",
                           data_dir=data_dir, persistent_config=bool(scenario.collections))
    with gateway:
        return run(scenario, gateway, run_dir, faults=faults, **options)


def free_database(gateway: Any, wanted: str, attempts: int = 100) -> str:
    """`wanted`, or the first of `wanted-2`, `wanted-3`, ... that the gateway does not serve yet."""
    from rig.gateway import AdminClient

    taken = set(AdminClient(gateway.admin_url, gateway.metrics_url).all_databases())
    for name in [wanted, *(f"{wanted}-{n}" for n in range(2, attempts))]:
        if name not in taken:
            if name != wanted:
                print(f"database {wanted!r} exists on the gateway (made by `rig gateway up`?): using {name!r}")
            return name
    raise ConfigError(f"databases {wanted!r} to {wanted}-{attempts - 1} all exist; name one with --database")


def _limits(args: argparse.Namespace) -> tuple[float, float]:
    from rig.metrics.saturation import CPU_THRESHOLD, LAG_THRESHOLD_S

    cpu = CPU_THRESHOLD if args.saturation_cpu is None else args.saturation_cpu
    lag = LAG_THRESHOLD_S if args.saturation_lag is None else args.saturation_lag
    return cpu, lag


def _run_on_docker(args: argparse.Namespace, scenario: Any, run_dir: Path, data_dir: Path | None,
                   faults: list[Any], options: dict[str, Any]) -> int:
    from rig.gateway import DatabaseSpec
    from rig.gateway.docker import DockerGateway
    from rig.gateway.image import resolve_sg_image
    from rig.load.orchestrate import run

    image = resolve_sg_image(args.version, args.image, args.binary)
    gateway = DockerGateway(image, run_dir / "gateway", databases=[DatabaseSpec("boot")], log_level="warn",
                            data_dir=data_dir)
    with gateway:
        return run(scenario, gateway, run_dir, faults=faults, listen_host=gateway.host_address, **options)


def _run_named(args: argparse.Namespace, scenario: Any, run_dir: Path, faults: list[Any],
               options: dict[str, Any]) -> int:
    """`--gateway NAME`: started (or reached) by rig.gateway.resolve; its database settings go into the run's."""
    import os

    from rig.gateway import DatabaseSpec
    from rig.gateway.named import ENV_DATABASE_SETTINGS, parse_gateway
    from rig.gateway.resolve import started_gateway
    from rig.load.orchestrate import run

    name = parse_gateway(args.gateway)
    with started_gateway(name, run_dir / "gateway", databases=[DatabaseSpec("boot")]) as gateway:
        if gateway.settings.database:
            os.environ[ENV_DATABASE_SETTINGS] = gateway.subprocess_env()[ENV_DATABASE_SETTINGS]
        listen = getattr(gateway.controller, "host_address", "127.0.0.1") if name.kind == "image" else "127.0.0.1"
        return run(scenario, gateway.controller, run_dir, faults=faults, listen_host=listen, **options)
