"""`rig run`: prepare the gateway, run the fleet under locust (one process or a master and
workers), merge what every process measured, check thresholds."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter

from rig._errors import GatewayError, RigError
from rig.faults.gateway import Fault, FaultInjector, NetworkTarget
from rig.faults.netdown import LocalNetworkSwitch, NetdownFlag
from rig.gateway import AdminClient, GatewayController
from rig.gateway.build import binary_version
from rig.gateway.local import LocalGateway, free_port
from rig.gateway.principals import check_principals
from rig.gateway.principals import summary_text as principals_text
from rig.load import cpu_cost
from rig.load.coordinate import MasterSession
from rig.load.cpu_cost import proc_start_ticks
from rig.load.durability import check_run, outage_costs, retry_rows
from rig.load.observe import grant_documents, record_revision_names, user_name
from rig.load.process import LoadProcess, RunConfig, seed_gateway, webhook_database
from rig.load.progress import Progress, Snapshot
from rig.load.results import check_thresholds, flat_metrics, machine, release_lines, write_csv
from rig.load.samples import GATEWAY_COUNTERS
from rig.load.scenario import Scenario
from rig.load.spread import Distribution, Endpoint
from rig.load.users import DeviceUser, fire_locust_events, set_process
from rig.metrics.saturation import CPU_THRESHOLD, LAG_THRESHOLD_S, merge_summaries, summary_line
from rig.oracle.render import render, render_collections
from rig.oracle.routing import RoutingSpec
from rig.oracle.routing import load as load_spec
from rig.oracle.run_check import check_run as check_run_dir
from rig.oracle.run_check import oracle_thresholds, write_findings
from rig.oracle.run_check import summary_text as oracle_text
from rig.runfiles import gateway_increase, merge, release_summary, throughput_agreement

_GATEWAY_COUNTERS = tuple(GATEWAY_COUNTERS.values())
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def _gateway_counters(admin: AdminClient, db: str) -> dict[str, float]:
    return {name: admin.metric(name, database=db) for name in _GATEWAY_COUNTERS}


def sync_function_for(scenario: Scenario, run_dir: Path, given: Path | None) -> Path | None:
    """The database's sync function: the one given, else a routing scenario's spec rendered, else the default.

    With named collections: a folder of `<scope.name>.js`, one per collection (`sync-rendered/` for a
    routing scenario; a collection without a file gets Sync Gateway's default function)."""
    if given is not None or scenario.routing is None:
        return given
    if scenario.collections:
        folder = run_dir / "sync-rendered"
        folder.mkdir(parents=True, exist_ok=True)
        for collection, source in render_collections(load_spec(scenario.routing.spec)).items():
            (folder / f"{collection}.js").write_text(source)
        return folder
    path = run_dir / "sync-rendered.js"
    path.write_text(render(load_spec(scenario.routing.spec)))
    return path


def prepare(scenario: Scenario, gateway: GatewayController, run_dir: Path, *, processes: int = 1,
            endpoints: Sequence[Endpoint] | None = None, sync_function: Path | None = None,
            netdown_flag: Path | None = None, limits: tuple[float, float] = (CPU_THRESHOLD, LAG_THRESHOLD_S),
            log: Any = print) -> list[RunConfig]:
    """Seed the gateway (database with webhooks, users, documents) and write each process's run config."""
    run_dir.mkdir(parents=True, exist_ok=True)
    sync_function = sync_function_for(scenario, run_dir, sync_function)
    admin = AdminClient(gateway.admin_url, gateway.metrics_url)
    if endpoints is None:
        endpoints = [Endpoint("127.0.0.1", free_port(), free_port()) for _ in range(processes)]
    processes = len(endpoints)
    db = scenario.database
    log(f"preparing database {db!r}: {scenario.fleet.users} users, "
        f"{scenario.fleet.users * scenario.workload.docs_per_user} seed documents")
    webhooks = [f"http://{e.host}:{e.push_port}/sg/doc-changed" for e in endpoints]
    # The gateway's own storage (on disk when it has a data directory), so its data survive a kill.
    if scenario.routing is not None:
        log(f"routing spec {scenario.routing.spec}; sync function {sync_function}")
    seed_gateway(admin, scenario, db, webhooks, server=getattr(gateway, "storage_url", None),
                 sync_function=sync_function, run_dir=run_dir)
    databases = getattr(gateway, "databases", None)
    if isinstance(databases, list) and all(spec.name != db for spec in databases):
        # Into the gateway's own config too, so that a restarted gateway serves it again.
        databases.append(webhook_database(db, webhooks, sync_function, scenario.collections))
    gateway_pid, gateway_started = _gateway_process(gateway)
    base = RunConfig(str(run_dir), str(scenario.path), gateway.public_url, gateway.admin_url, gateway.metrics_url,
                     db, scenario.duration_s, scenario.time_scale, 0, processes,
                     netdown_flag=str(netdown_flag) if netdown_flag else "",
                     saturation_cpu=limits[0], saturation_lag_s=limits[1], driver=scenario.driver,
                     gateway_pid=gateway_pid, gateway_started=gateway_started)
    configs = [base.for_worker(i, e.push_port, e.metrics_port, e.bind_host) for i, e in enumerate(endpoints)]
    for config in configs:
        config.save(run_dir / f"run-config-{config.worker_index}.json")
    return configs


def _gateway_process(gateway: GatewayController) -> tuple[int, int]:
    """The pid and start time of a gateway process the rig started, for its CPU per document (0, 0:
    a gateway in a container or given by URL, whose CPU only its own metrics can tell)."""
    pid = gateway.pid if isinstance(gateway, LocalGateway) else None
    started = proc_start_ticks(pid) if pid else None
    return (0, 0) if pid is None or started is None else (pid, started)


def run(scenario: Scenario, gateway: GatewayController, run_dir: Path, *, workers: int = 0,
        distribution: Distribution | None = None, metrics: tuple[str, int] = ("127.0.0.1", 0),
        fail_if: list[str] | None = None, verify: bool = True, faults: Sequence[Fault] = (),
        sync_function: Path | None = None, listen_host: str = "127.0.0.1",
        saturation_limits: tuple[float, float] = (CPU_THRESHOLD, LAG_THRESHOLD_S), log: Any = print) -> int:
    """`metrics` (host, port): where this process serves its metrics (0: a free port for the devices'
    process, none for a master). `saturation_limits`: (CPU ratio, loop lag in s) from which a load
    process counts as saturated (rig.metrics.saturation)."""
    spread = distribution or Distribution(local=workers)
    if listen_host != "127.0.0.1":
        spread = dataclasses.replace(spread, local_listen_host=listen_host)
    processes = max(1, spread.workers)
    if any(f.kind != "netdown" for f in faults) and \
            not all(hasattr(gateway, call) for call in ("kill", "pause", "unpause")):
        raise RigError(f"faults need a gateway the rig controls (local or docker), not {gateway.public_url}")
    target: Any = gateway
    flag = None
    if any(f.kind == "netdown" for f in faults) and not isinstance(gateway, NetworkTarget):
        # No network to take the gateway off: every device link goes down instead (rig.faults.netdown).
        flag = NetdownFlag(run_dir / "netdown")
        target = LocalNetworkSwitch(gateway, flag)
    injector = FaultInjector(target, faults, log=log)
    netdown_flag = None if flag is None else flag.path
    admin = AdminClient(gateway.admin_url, gateway.metrics_url)
    db = scenario.database
    run_dir.mkdir(parents=True, exist_ok=True)
    sync_function = sync_function_for(scenario, run_dir, sync_function)
    environment = Environment(user_classes=[DeviceUser], events=events)
    csv_writer = StatsCSVFileWriter(environment, PERCENTILES_TO_REPORT, str(run_dir / "locust"), full_history=True)
    if spread.workers == 0:
        host, port = metrics
        if listen_host != "127.0.0.1":  # the gateway's webhooks come from a container network
            endpoints = [Endpoint(listen_host, free_port(listen_host), port or free_port(listen_host), listen_host)]
        else:
            endpoints = [Endpoint("127.0.0.1", free_port(), port or free_port(), host)]
        configs = prepare(scenario, gateway, run_dir, endpoints=endpoints, sync_function=sync_function,
                          netdown_flag=netdown_flag, limits=saturation_limits, log=log)
        before = _gateway_counters(admin, db)
        started = time.time()
        _announce(scenario, endpoints, log)
        _run_local(environment, configs[0], scenario, csv_writer, verify, injector)
        master_saturation = None
    else:
        with MasterSession(environment, scenario, run_dir, spread, metrics, log, limits=saturation_limits) as session:
            endpoints = session.wait_for_workers()
            configs = prepare(scenario, gateway, run_dir, endpoints=endpoints, sync_function=sync_function,
                              netdown_flag=netdown_flag, limits=saturation_limits, log=log)
            session.configure(configs)
            if isinstance(target, LocalNetworkSwitch):
                target.listeners.append(session.netdown)  # workers elsewhere do not see the flag file
            before = _gateway_counters(admin, db)
            started = time.time()
            _announce(scenario, endpoints, log)
            session.run(csv_writer, injector, verify)
        master_saturation = session.saturation.tracker.summary()
    elapsed = time.time() - started
    after = _gateway_counters(admin, db)
    # Across gateway restarts: through the counters the first process sampled every second.
    delta = gateway_increase(run_dir, before, after, GATEWAY_COUNTERS, since=started)
    measurements, totals = merge(run_dir, scenario.time_scale)
    write_csv(run_dir, measurements)
    flat = flat_metrics(measurements, totals, delta, scenario.duration_s)
    durability, retries = check_run(run_dir, admin, db)
    flat.update(lost_writes=float(len(durability.lost)), duplicated_writes=float(len(durability.duplicated)),
                retries=float(retries), outages=float(len(injector.outages)))
    agreement = throughput_agreement(run_dir)
    for side in ("pull", "push"):
        if agreement[f"{side}_difference_pct"] is not None:
            flat[f"{side}_rig_vs_gateway_pct"] = abs(agreement[f"{side}_difference_pct"])
    oracle = None
    principals: dict[str, Any] | None = None
    thresholds = list(fail_if or [])
    if scenario.routing is not None and verify:
        spec = load_spec(scenario.routing.spec)
        record_revision_names(admin, db, spec, run_dir)  # a 4.1 device's versions as the writes' rev-tree IDs
        oracle = check_run_dir(spec, run_dir)
        write_findings(run_dir, oracle)
        flat.update(oracle.figures())
        principals = _principal_drift(admin, db, spec, run_dir, [user_name(i) for i in range(scenario.fleet.users)],
                                      log)
        flat["gateway_principal_drift"] = float(len(principals["drift"]))
        thresholds = oracle_thresholds(thresholds)  # any finding fails the run unless --fail-if relaxes it
    elif scenario.routing is not None:
        log("  NO ORACLE VERDICT: --no-verify skips the final sync, so the routing spec judges nothing")
    rig = merge_summaries([master_saturation, *totals["rig"]])
    flat.update(rig_saturated=float(rig["saturated"]), rig_saturated_seconds=float(rig["saturated_seconds"]))
    cpu = cpu_cost.from_run(run_dir, [master_saturation, *totals["rig"]])
    flat.update(cpu_cost.figures(cpu))
    checked, failed = cpu_cost.unmeasured(thresholds, cpu)
    failed += check_thresholds(checked, flat)
    if isinstance(gateway, LocalGateway):
        version = binary_version(gateway.binary)
    else:  # a container's image, or a gateway given by URL
        version = str(getattr(gateway, "image", None) or gateway.public_url)
    names = totals["device_names"]
    by_profile = Counter(name.split("/")[1] for name in names if name.count("/") >= 2)
    summary = {"scenario": scenario.name, "description": scenario.description, "gateway": version,
               "devices": totals["devices"], "devices_by_profile": dict(sorted(by_profile.items())),
               "by_release": release_summary(measurements.summary()["by_release"], totals["by_release"]),
               "devices_run_twice": sorted(n for n, c in Counter(names).items() if c > 1)[:100],
               "processes": processes, "driver": scenario.driver, "duration_s": scenario.duration_s,
               "elapsed_s": round(elapsed, 1), "time_scale": scenario.time_scale, "figures": flat,
               "measurements": measurements.summary(), "push": totals["push"], "gateway_counters": delta,
               "verify_problems": totals["verify_problems"][:100],
               "final_sync_failures": totals["final_sync_failures"][:100],
               "thresholds": {"given": fail_if or [], "applied": thresholds, "failed": failed},
               "machine": machine(),
               "durability": durability.as_dict(), "throughput_agreement": agreement,
               "faults": outage_costs(injector.outages, measurements, retry_rows(run_dir)),
               "links": totals["links"], "device_errors_by_kind": totals["device_errors_by_kind"],
               "device_error_samples": totals["device_error_samples"],
               "protocol_errors": {"total": int(flat["protocol_errors"]),
                                   "devices": dict(sorted(totals["protocol_errors"].items())[:100])},
               "endpoints": {"gateway_public": gateway.public_url, "gateway_metrics": gateway.metrics_url,
                             "rig_metrics": [f"http://{e.host}:{e.metrics_port}/metrics" for e in endpoints]},
               "started_at": started, "sync_function": str(sync_function or "default"),
               "routing_spec": str(scenario.routing.spec) if scenario.routing else None,
               "oracle": oracle.as_dict() if oracle is not None else None,
               "gateway_principals": principals, "rig": rig, "cpu_per_document": cpu}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    _print_summary(summary, run_dir, log)
    _write_report(run_dir, log)
    return 1 if failed else 0


def _principal_drift(admin: AdminClient, db: str, spec: RoutingSpec, run_dir: Path, users: list[str],
                     log: Any) -> dict[str, Any]:
    """Each user's record on the gateway against the grants its documents hold (rig.gateway.principals):
    a record the gateway left wrong explains findings no sync function can cause."""
    documents = grant_documents(spec, run_dir)
    try:
        drift = check_principals(admin, db, documents, users)
    except GatewayError as exc:  # the check explains findings; the run's verdicts stand without it
        log(f"  gateway principals: not checked ({exc})")
        return {"users": len(users), "documents": sum(map(len, documents.values())), "drift": [], "error": str(exc)}
    return {"users": len(users), "documents": sum(map(len, documents.values())),
            "drift": [d.as_dict() for d in drift[:100]], "drift_text": [d.text() for d in drift[:100]]}


def _write_report(run_dir: Path, log: Any) -> None:
    """report.html in the run directory; a failure is reported, never fatal (`rig report` rebuilds it)."""
    try:
        from rig.report.run_report import write_report  # matplotlib: not in the rig's container image

        log(f"report: {write_report(run_dir)} (open it in a browser; `rig report {run_dir}` rebuilds it)")
    except Exception as exc:  # the run's results are written already; the report must not lose them
        log(f"report: not written ({type(exc).__name__}: {exc}); try `rig report {run_dir}`")


def _spawn_rate(scenario: Scenario) -> float:
    return max(1.0, scenario.ramp_per_s)


def _run_local(environment: Environment, config: RunConfig, scenario: Scenario, csv_writer: StatsCSVFileWriter,
               verify: bool, injector: FaultInjector) -> None:
    process = LoadProcess(config)
    process.measurements.listeners.append(fire_locust_events(environment))
    process.start()
    # The gateway's counters die with a killed gateway: sample them just before any fault.
    injector.before.append(lambda fault: process.sampler.sample_now())
    set_process(process)
    runner = environment.create_local_runner()
    writer = gevent.spawn(csv_writer)
    progress = Progress(lambda: _local_snapshot(process), scenario.duration_s)
    runner.start(scenario.device_count, spawn_rate=_spawn_rate(scenario))
    injector.start()
    progress.start()
    gevent.sleep(scenario.duration_s)
    progress.stop()
    injector.stop()  # a fault in progress ends with the gateway up again, before the final sync
    runner.quit()
    writer.kill()
    csv_writer.close_files()
    process.finish(verify=verify)


def _local_snapshot(process: LoadProcess) -> Snapshot:
    last = process.sampler.samples[-1] if process.sampler.samples else {}
    return Snapshot(dict(last.get("states", {})), last.get("pulled"), last.get("pushed"),
                    sum(len(r.errors) for r in list(process.runners)))


def _announce(scenario: Scenario, endpoints: Sequence[Endpoint], log: Any) -> None:
    log(f"running {scenario.device_count} devices for {scenario.duration_s:.0f} s "
        f"(time scale {scenario.time_scale:g}x: OS intervals compressed, budgets and network real) "
        f"in {len(endpoints)} process(es); "
        f"metrics on {', '.join(f'{e.host}:{e.metrics_port}' for e in endpoints)}")


def _print_summary(summary: dict[str, Any], run_dir: Path, log: Any) -> None:
    figures = summary["figures"]
    log(f"\n{summary['scenario']}: {summary['devices']} devices, {summary['duration_s']:.0f} s real "
        f"(x{summary['time_scale']:g} phone time), gateway {summary['gateway']}")
    if summary.get("rig"):
        log(f"  {summary_line(summary['rig'])}")
    if summary.get("cpu_per_document"):
        log(f"  {cpu_cost.summary_text(summary['cpu_per_document'])}")
    log(f"  gateway hot path: push {figures['push_docs_per_s']:.1f} docs/s, "
        f"pull {figures['pull_docs_per_s']:.1f} docs/s")
    agreement = summary["throughput_agreement"]
    if agreement["gateway_revs_sent"] is not None:
        log(f"  devices counted {agreement['rig_pulled']:.0f} pulled / {agreement['rig_pushed']:.0f} pushed, the "
            f"gateway {agreement['gateway_revs_sent']:.0f} revs sent / {agreement['gateway_docs_pushed']:.0f} "
            f"pushed (differences {agreement['pull_difference_pct']}% / {agreement['push_difference_pct']}%)")
    for trigger, row in summary["measurements"]["wakes_by_trigger"].items():
        sync = row["wake_to_caught_up_s_real"]
        log(f"  wakes by {trigger:10} {row['wakes']:5}  overruns {row['overruns']:3}  caught up p50 "
            f"{_s(sync['p50'])} p95 {_s(sync['p95'])} p99 {_s(sync['p99'])}")
    for phase, row in summary["measurements"]["arrivals_by_phase"].items():
        lat = row["write_to_arrival_s_real"]
        log(f"  write-to-arrival {phase:10} {row['arrivals']:6}  p50 {_s(lat['p50'])} p95 {_s(lat['p95'])} "
            f"p99 {_s(lat['p99'])}")
    for line in release_lines(summary.get("by_release") or {}):
        log(line)
    push = summary["push"]
    log("  push service: " + ", ".join(f"{k} {v}" for k, v in push.items()))
    log(f"  after a final sync: leaks {figures['leaks']:.0f}, misses {figures['misses']:.0f}, "
        f"stale {figures['stale']:.0f}; device errors {figures['errors']:.0f}{_kinds(summary)}, "
        f"retries {figures['retries']:.0f}")
    durability = summary["durability"]
    log(f"  acknowledged writes: {durability['checked']} checked on the gateway, lost {durability['lost']}, "
        f"duplicated {durability['duplicated']}")
    if summary.get("oracle"):
        log("  " + oracle_text(summary["oracle"]).replace("\n", "\n  "))
    if summary.get("gateway_principals"):
        log("  " + principals_text(summary["gateway_principals"]).replace("\n", "\n  "))
    for row in summary["faults"]:
        took = "never came back" if row["seconds"] is None else f"gateway back after {row['seconds']:.1f} s"
        sync = row["wake_to_caught_up_s_real"]
        log(f"  fault {row['fault']:14} {took}; wakes touched {row['wakes_touched']}, failed "
            f"{row['wakes_failed']}, retries {row['retries']}, caught up p95 {_s(sync['p95'])}"
            + (f"; ERROR {row['error']}" if row["error"] else ""))
        log(f"  {'':20} {_reconnects_text(row['reconnects'])}")
    _print_links(summary, log)
    for failure in summary["thresholds"]["failed"]:
        log(f"  THRESHOLD FAILED: {failure}")
    log(f"results: {run_dir}/summary.json (+ wakes.csv, arrivals.csv, locust_stats_history.csv)")


def _reconnects_text(reconnects: dict[str, Any]) -> str:
    """One line on the retries' waits, next to Couchbase Lite's schedule (2, 4, 8 ... s)."""
    if not reconnects["retries"]:
        return "no device retried"
    delay = reconnects["delay_s"]
    attempts = " ".join(f"#{n}:{count}" for n, count in reconnects["by_attempt"].items())
    return (f"reconnect waits p50 {_s(delay['p50'])} p95 {_s(delay['p95'])} max {_s(delay['max'])} over "
            f"{reconnects['retries']} retries of {len(reconnects['devices'])} devices; by attempt {attempts} "
            "(Couchbase Lite waits 2 s before #1, 4 s before #2, 8 s before #3 ...)")


def _print_links(summary: dict[str, Any], log: Any) -> None:
    links = summary["links"]
    if links:
        log("  device links" + (" (shaped by the profiles' mixes)" if links["shaped"] else " (unshaped proxy)")
            + (f", cut plan {links['cut_plan']}" if links["cut_plan"] else "") + ":")
        for name, row in links["classes"].items():
            log(f"    {name:8} {row['devices']:5} devices  {row['connections']:6} connections  "
                f"{row['bytes_down'] / 1e6:8.2f} MB down {row['bytes_up'] / 1e6:7.2f} MB up  cuts {row['cuts']}"
                f"  refused while down {row['refused_down']}")
    errors = summary["protocol_errors"]
    if errors["total"]:
        log(f"  protocol errors: {errors['total']} on {len(errors['devices'])} device(s), e.g. "
            + ", ".join(f"{name} {count}" for name, count in list(errors["devices"].items())[:3]))


def _kinds(summary: dict[str, Any]) -> str:
    kinds = sorted(summary["device_errors_by_kind"].items(), key=lambda item: -item[1])
    return "" if not kinds else " (" + ", ".join(f"{kind} {count}" for kind, count in kinds[:4]) + ")"


def _s(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.2f}s"


def scenario_with(scenario: Scenario, *, duration: float | None, time_scale: float | None) -> Scenario:
    if duration is not None:
        scenario = replace(scenario, duration_s=duration)
    if time_scale is not None:
        scenario = replace(scenario, time_scale=time_scale)
    return scenario
