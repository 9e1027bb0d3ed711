"""What one load process (the single local runner, or one locust worker) holds: its share of the
devices, its push service, its metrics endpoint, its results file."""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client import start_http_server

from rig._collections import keyspace
from rig._errors import ConfigError
from rig._paths import project_root
from rig.device.device import Credentials, VirtualDevice
from rig.device.fleet import final_sync, team_editor, team_of, verify_devices
from rig.device.lifecycle import AppState
from rig.device.loop import DeviceLoop
from rig.device.measure import Measurements, release_order
from rig.device.profile import DeviceProfile
from rig.device.runner import DeviceRunner, Editor
from rig.gateway import AdminClient, CollectionSpec, DatabaseSpec
from rig.load.cpu_cost import proc_cpu_seconds
from rig.load.links import ProcessLinks, links_wanted
from rig.load.observe import (
    DeviceRecorder,
    ObservationLog,
    change_guest_grants,
    routing_editor,
    routing_workload,
    seed_routing,
)
from rig.load.samples import Sampler, fleet_sample
from rig.load.scenario import Scenario, load_scenario
from rig.metrics import DeviceStateCollector, PushCollector, RigMetrics, RunRegistry, SaturationCollector
from rig.metrics.saturation import CPU_THRESHOLD, LAG_THRESHOLD_S, SaturationMonitor, SaturationTracker, onset_warning
from rig.push import PushService, PushTarget
from rig.replicator import ReplicationEvent
from rig.replicator.link import Observer


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a process needs to join a run; written as JSON by `rig run` for its workers."""

    run_dir: str
    scenario_path: str
    public_url: str
    admin_url: str
    metrics_url: str
    database: str
    duration_s: float
    time_scale: float
    worker_index: int = 0
    worker_count: int = 1
    push_port: int = 0
    metrics_port: int = 0
    bind_host: str = "127.0.0.1"
    """Where this process's push service and metrics endpoint listen (0.0.0.0 in a container)."""
    netdown_flag: str = ""
    """Local netdown: the file whose presence takes every device link down (`rig.faults.netdown`)."""
    saturation_cpu: float = CPU_THRESHOLD
    saturation_lag_s: float = LAG_THRESHOLD_S
    """When this process counts as saturated (`rig.metrics.saturation`)."""
    driver: str = "loop"
    """"loop": every replication on one DeviceLoop; "gevent": a helper greenlet per replication (Scenario.driver)."""
    gateway_pid: int = 0
    gateway_started: int = 0
    """A gateway process the rig started: its pid and start time (clock ticks after boot), so that the
    first process reads its CPU from /proc (`rig.load.cpu_cost`); 0: not one the rig can see."""

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        return cls(**json.loads(path.read_text()))

    def for_worker(self, index: int, push_port: int, metrics_port: int, bind_host: str = "127.0.0.1") -> RunConfig:
        values = asdict(self)
        values.update(worker_index=index, push_port=push_port, metrics_port=metrics_port, bind_host=bind_host)
        return RunConfig(**values)


def user_name(index: int) -> str:
    return f"user-{index:04d}"


def assignment(scenario: Scenario) -> list[tuple[int, DeviceProfile]]:
    """(user index, profile) for every device of the run: the same in every process."""
    return scenario.fleet.assign(random.Random(scenario.seed))


class LoadProcess:
    """`barrier(step)` returns once every process of the run reached `step` of the final sync; by
    default files in the run directory (processes on one machine), for `rig worker` messages
    through the locust master."""

    def __init__(self, config: RunConfig, *, barrier: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.scenario = load_scenario(Path(config.scenario_path))
        self.assignment = assignment(self.scenario)
        self.admin = AdminClient(config.admin_url, config.metrics_url)
        self.measurements = Measurements(config.time_scale)
        self.registry = RunRegistry(Path(config.run_dir).name, self.scenario.name, config.worker_index)
        self.metrics = RigMetrics(self.registry)
        self.measurements.listeners.append(self.metrics.on_measurement)
        self.runners: list[DeviceRunner] = []
        self.loop = DeviceLoop() if config.driver == "loop" else None
        """The one event loop every device's replication runs on (`driver = "loop"`), else None."""
        self.barrier = barrier or self._barrier
        self.push = PushService(self.admin, config.database, host=config.bind_host, port=config.push_port,
                                time_scale=config.time_scale, rng=random.Random(self.scenario.seed + 7),
                                collections=self.scenario.collections)
        self.registry.register(DeviceStateCollector(
            lambda: [(r.lifecycle.state.value, r.device.release.name) for r in self.runners]))
        self.registry.register(PushCollector(lambda: [self.push.counters]))
        self._editor = team_editor(self.scenario.team_size, self.scenario.collections)
        routing = self.scenario.routing
        self.workload = routing_workload(self.scenario) if routing is not None else None
        # Written where this process runs and handed over at the end (a worker writes nothing in the run dir).
        self.observations = None if routing is None else ObservationLog.temporary(config.worker_index)
        self.recorders: dict[str, DeviceRecorder] = {}
        self._lock = threading.Lock()
        self._next = config.worker_index
        self.started_at: float | None = None
        """When the first device of this process started (the run's clock for its duration)."""
        self._metrics_server: Any = None
        self.links: ProcessLinks | None = None
        if links_wanted(self.scenario.links, netdown=bool(config.netdown_flag)):
            self.links = ProcessLinks(config.public_url, self.scenario.links, seed=self.scenario.seed,
                                      netdown_flag=config.netdown_flag)
        self.saturation = SaturationMonitor(SaturationTracker(
            f"worker-{config.worker_index}", cpu_threshold=config.saturation_cpu,
            lag_threshold_s=config.saturation_lag_s,
            on_onset=lambda name, tick: print(onset_warning(name, tick, self.started_at), flush=True)))
        self.registry.register(SaturationCollector(lambda: [self.saturation]))
        gateway_cpu: Callable[[], float | None] | None = None
        if config.worker_index == 0 and config.gateway_pid:
            gateway_cpu = partial(proc_cpu_seconds, config.gateway_pid, config.gateway_started)
        self.sampler = Sampler(lambda: fleet_sample(self.runners, self.measurements, self.registry,
                                                    self.admin if config.worker_index == 0 else None,
                                                    config.database, gateway_cpu))

    def start(self) -> None:
        if self.loop is not None:
            self.loop.start(f"device-loop-{self.config.worker_index}")  # a greenlet under gevent
        self.push.start()
        self.sampler.start()
        routing = self.scenario.routing
        if routing is not None and self.config.worker_index == 0 and routing.grant_change_at < 1:
            threading.Thread(target=self._change_grants, args=(routing.grant_change_at,), daemon=True,
                             name="guest-grants").start()
        if self.config.metrics_port:
            self._metrics_server = start_http_server(self.config.metrics_port, addr=self.config.bind_host,
                                                     registry=self.registry)

    def _change_grants(self, at: float) -> None:
        """Part way through the load phase, the admin changes the guest grants (one process does it)."""
        while self.started_at is None:
            time.sleep(0.1)
        # The run's duration (`--duration` overrides the scenario file's): a change timed by the file's
        # could land in the final sync, where a revocation the devices have not pulled yet is a finding.
        time.sleep(max(0.0, self.started_at + at * self.config.duration_s - time.time()))
        if self.workload is not None and self.observations is not None:
            accepted = change_guest_grants(self.admin, self.workload, self.config.database, self.observations)
            print(f"routing: the admin changed {accepted} guest grants mid-run", flush=True)

    def new_runner(self) -> DeviceRunner | None:
        """The next device of this process's share (devices are dealt round-robin to processes)."""
        with self._lock:
            if self.started_at is None:
                self.started_at = time.time()
                self.saturation.start()  # the load phase: from the first device to the final sync
            ordinal = self._next
            if ordinal >= len(self.assignment):
                return None
            self._next += self.config.worker_count
        user_index, profile = self.assignment[ordinal]
        name = user_name(user_index)
        device = VirtualDevice(f"{self.config.public_url}/{self.config.database}", Credentials(name, f"{name}-pw"),
                               name=f"{name}/{profile.name}/{ordinal}", cbl=profile.cbl,
                               collections=self.scenario.collections or ("_default",))
        if self.links is not None:
            self.links.route(device, profile, ordinal)
        editor: Editor = self._editor
        observer: Observer = self.metrics.observer(device.release.name)
        routing = self.scenario.routing
        if self.workload is not None and self.observations is not None and routing is not None:
            recorder = DeviceRecorder(self.observations, device, snapshot_every_s=routing.snapshot_every_s,
                                      max_snapshots=routing.max_snapshots)
            self.recorders[device.name] = recorder
            editor = routing_editor(self.workload, user_index, f"d{ordinal}", recorder)
            observer = _tee(observer, recorder.on_event)
        runner = DeviceRunner(device, profile, rng=random.Random(self.scenario.seed * 1_000_003 + ordinal),
                              time_scale=self.config.time_scale, measurements=self.measurements,
                              editor=editor, observer=observer, loop=self.loop)
        self.push.register(PushTarget(device.name, name, runner.deliver_push, runner.accepts_push), profile.push)
        with self._lock:
            self.runners.append(runner)
        return runner

    def start_state(self, runner: DeviceRunner) -> AppState:
        rng = random.Random(runner.device.name)
        return AppState.FOREGROUND if rng.random() < self.scenario.workload.start_awake_fraction \
            else AppState.SUSPENDED

    def _barrier(self, step: str, timeout: float = 300.0) -> None:
        """Wait until every worker process has reached `step` (files in the run directory)."""
        run_dir = Path(self.config.run_dir)
        (run_dir / f"barrier-{step}-{self.config.worker_index}").touch()
        deadline = time.monotonic() + timeout
        while len(list(run_dir.glob(f"barrier-{step}-*"))) < self.config.worker_count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.config.worker_index}: other workers never reached {step!r}")
            time.sleep(0.2)

    def _final_snapshots(self, failures: list[str], *, record: bool) -> dict[str, Any] | None:
        """After the final sync: settle each device's revisions, record its whole store, close the log."""
        if self.observations is None:
            return None
        failed = {line.split(": ", 1)[0] for line in failures}
        for name, recorder in self.recorders.items():
            recorder.settle()
            if record:
                recorder.snapshot(outcome="error" if name in failed else "caught_up")
        self.observations.close()
        return dict(self.observations.counts)

    def by_release(self) -> dict[str, dict[str, float]]:
        """Devices and the documents they moved in the load phase (rig_documents_total), per release."""
        documents = self.metrics.documents_by_release()
        devices = Counter(r.device.release.name for r in self.runners)
        return {cbl: {"devices": devices.get(cbl, 0), "docs_pulled": documents.get(cbl, {}).get("pulled", 0.0),
                      "docs_pushed": documents.get(cbl, {}).get("pushed", 0.0)}
                for cbl in release_order([*devices, *documents])}

    def finish(self, *, verify: bool = True, write: bool = True) -> dict[str, Any]:
        """Final sync of every device, the check of what each holds, and (`write`) this process's results file."""
        problems: list[str] = []
        failures: list[str] = []
        samples = self.sampler.stop()
        saturation = self.saturation.stop()  # the load phase only: the final sync is the check, not the load
        if self.loop is not None:
            self.loop.shutdown()  # the load phase's replications are over; the final sync runs its own
        links = None
        if self.links is not None:
            ProcessLinks.go_direct(self.runners)  # the final check does not wait on shaped links
            links = self.links.close()
        barrier = self.barrier if self.config.worker_count > 1 else None
        if verify and (self.runners or barrier):  # a process without devices still keeps the others in step
            recorders = self.recorders
            failures = final_sync(self.admin, self.config.database, self.runners, barrier=barrier,
                                  rounds=2 if barrier else 3,
                                  observer=lambda r: recorders[r.device.name].on_event if recorders else None,
                                  collections=self.scenario.collections)
            problems = verify_devices(self.admin, self.config.database, self.runners, self.scenario.collections)
        observed = self._final_snapshots(failures, record=verify)
        self.push.stop()
        result = {"worker_index": self.config.worker_index, "devices": len(self.runners),
                  "measurements": self.measurements.as_records(), "push": asdict(self.push.counters),
                  "final_sync_failures": failures, "verify_problems": problems,
                  "device_errors": sum(len(r.errors) for r in self.runners),
                  "device_errors_by_kind": dict(Counter(e.split(":", 1)[0] for r in self.runners for e in r.errors)),
                  "device_error_samples": error_samples(self.runners),
                  "team_size": self.scenario.team_size, "samples": samples,
                  "retries": sum(r.retries for r in self.runners),
                  "retry_delays": [[r.device.name, rec.at, rec.attempt, rec.delay_s, rec.error]
                                   for r in self.runners for rec in r.retry_log],
                  "protocol_errors": {r.device.name: r.protocol_errors for r in self.runners if r.protocol_errors},
                  "links": links,
                  "device_names": [r.device.name for r in self.runners],
                  "acknowledged": [[r.device.name, doc_id, rev] for r in self.runners
                                   for doc_id, rev in r.acknowledged],
                  "observations": observed, "rig": saturation, "by_release": self.by_release(),
                  "driver": self.config.driver, "loop_errors": [] if self.loop is None else self.loop.errors[:20]}
        if self.observations is not None:
            # Into the run directory here, or to the master with the results (rig.load.coordinate).
            result[OBSERVATIONS_KEY] = self.observations.take()
        if write:
            write_result(Path(self.config.run_dir), self.config.worker_index, result)
        if self._metrics_server is not None:
            self._metrics_server[0].shutdown()
        return result


OBSERVATIONS_KEY = "observations_jsonl"


def write_result(run_dir: Path, index: int, result: dict[str, Any]) -> None:
    """RUN_DIR/worker-INDEX.json, and the process's observations (if any) as RUN_DIR/observations-INDEX.jsonl."""
    text = result.pop(OBSERVATIONS_KEY, None)
    if text is not None:
        (run_dir / f"observations-{index}.jsonl").write_text(text)
    (run_dir / f"worker-{index}.json").write_text(json.dumps(result))


def _tee(first: Observer, second: Observer) -> Observer:
    def both(event: ReplicationEvent) -> None:
        first(event)
        second(event)
    return both


def error_samples(runners: list[DeviceRunner], per_kind: int = 3) -> dict[str, list[str]]:
    """A few messages of each kind of device error, each with the device's name."""
    samples: dict[str, list[str]] = {}
    for runner in runners:
        for error in runner.errors:
            kept = samples.setdefault(error.split(":", 1)[0], [])
            if len(kept) < per_kind:
                kept.append(f"{runner.device.name}: {error[:300]}")
    return samples


DEFAULT_SYNC = project_root() / "gateway_config" / "sync" / "default.js"


def webhook_database(db: str, webhooks: list[str], sync_function: Path | None = None,
                     collections: tuple[str, ...] = ()) -> DatabaseSpec:
    """The run's database: every document change posted to every process's push service.

    Named `collections`: `sync_function` is a folder of `<scope.name>.js`; a collection without one
    gets the rig's default function (`gateway_config/sync/default.js`: Sync Gateway's own default for a
    named collection routes every document to a channel named after the collection, which no user has)."""
    handlers = [{"handler": "webhook", "url": url, "timeout": 5, "options": {"winning_rev_only": True}}
                for url in webhooks]
    extra = {"event_handlers": {"document_changed": handlers}}
    if not collections:
        return DatabaseSpec(db, sync_function=sync_function, extra=extra)
    if sync_function is not None and not sync_function.is_dir():
        raise ConfigError(f"--sync-function: {sync_function}: named collections need a folder with "
                          f"{', '.join(f'{c}.js' for c in collections)}")
    specs = []
    for collection in collections:
        path = sync_function / f"{collection}.js" if sync_function is not None else None
        specs.append(CollectionSpec(collection, path if path is not None and path.is_file() else DEFAULT_SYNC))
    return DatabaseSpec(db, extra=extra, collections=tuple(specs))


def seed_gateway(admin: AdminClient, scenario: Scenario, db: str, webhooks: list[str], *,
                 server: str | None = None, sync_function: Path | None = None, run_dir: Path | None = None) -> None:
    """Create the database (its webhook pointing at every push service), the users and their documents.

    A routing scenario seeds the spec's workload instead, recording it in `run_dir` for the oracle."""
    admin.create_database_from_spec(webhook_database(db, webhooks, sync_function, scenario.collections),
                                    server=server)
    if scenario.routing is not None:
        seed_routing(admin, scenario, db, run_dir or Path("."))
        return
    workload = scenario.workload
    rng = random.Random(scenario.seed)
    docs: list[dict[str, Any]] = []
    collections = scenario.collections
    for index in range(scenario.fleet.users):
        name = user_name(index)
        channels = [name, team_of(index, scenario.team_size)]
        if collections:  # the same channels in every collection (Sync Gateway grants them per collection)
            access: dict[str, dict[str, Any]] = {}
            for collection in collections:
                scope, _, coll = collection.partition(".")
                access.setdefault(scope, {})[coll] = {"admin_channels": channels}
            admin.put_user(db, name, password=f"{name}-pw", collection_access=access)
        else:
            admin.put_user(db, name, password=f"{name}-pw", admin_channels=channels)
        for n in range(workload.docs_per_user):
            doc: dict[str, Any] = {"_id": f"{name}.seed.{n}", "type": "profile", "owner": name,
                                   "channels": [name], "written_at": time.time(),
                                   "text": "x" * max(0, workload.doc_size_bytes - 120)}
            if rng.random() < workload.attachment_share:
                photo = bytes(rng.getrandbits(8) for _ in range(workload.attachment_bytes))
                doc["_attachments"] = {"photo": {"content_type": "image/jpeg",
                                                 "data": base64.b64encode(photo).decode()}}
            docs.append(doc)
    spaces = [keyspace(db, c) for c in collections] or [db]
    for number, space in enumerate(spaces):  # with named collections, the documents dealt round-robin
        mine = docs[number::len(spaces)]
        for start in range(0, len(mine), 200):
            admin.bulk_docs(space, mine[start:start + 200])
        admin.wait_for_changes_feed(space)
