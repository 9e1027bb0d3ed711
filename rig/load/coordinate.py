"""A distributed `rig run`: the master and its workers talk through locust's custom messages only.

No shared disk, so workers may run in other containers or on other machines (`rig worker
--master-host HOST`); `rig run --workers N` starts N of them on this machine the same way.

    worker -> master  rig_hello    {host, bind_host, push_port, metrics_port, index_hint}  once connected
    master -> worker  rig_config   {config, scenario_name, scenario_text}   after seeding the gateway
    worker -> master  rig_ready    {index}    push service and metrics endpoint up, devices may spawn
    master -> worker  rig_finish   {verify}   after the load phase (the master stopped the users)
    worker -> master  rig_barrier  {step}     the final sync runs in step across workers ...
    master -> worker  rig_go       {step}     ... each step once every worker reached it
    worker -> master  rig_result   {index, result}   the master writes RUN_DIR/worker-INDEX.json
    worker -> master  rig_failed   {error}    a worker could not set up or finish
    master -> worker  rig_netdown  {down}     a netdown fault: every device link down, or up again
    worker -> master  rig_saturated {process, tick, since}  the worker's load process began to be
                                                 saturated (rig.metrics.saturation): the master prints it

The gateway's webhooks are only known once every worker said where its push service listens,
so the master seeds the gateway between hello and config.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gevent

from rig._errors import RigError
from rig._paths import project_root
from rig.load.process import RunConfig, write_result
from rig.load.progress import Progress, Snapshot
from rig.load.scenario import Scenario
from rig.load.spread import Distribution, Endpoint
from rig.metrics.saturation import (
    CPU_THRESHOLD,
    LAG_THRESHOLD_S,
    SaturationMonitor,
    SaturationTracker,
    Tick,
    onset_warning,
)

HELLO, CONFIG, READY, FINISH = "rig_hello", "rig_config", "rig_ready", "rig_finish"
BARRIER, GO, RESULT, FAILED = "rig_barrier", "rig_go", "rig_result", "rig_failed"
NETDOWN, SATURATED = "rig_netdown", "rig_saturated"
DEFAULT_MASTER_PORT = 5557


@dataclass(slots=True)
class WorkerInfo:
    """A worker as it introduced itself: where the gateway's webhooks and Prometheus reach it."""

    node_id: str
    host: str
    bind_host: str
    push_port: int
    metrics_port: int
    index_hint: int | None = None
    index: int = -1


class Coordinator:
    """The master's side of the protocol, on a locust MasterRunner."""

    def __init__(self, runner: Any, expected: int, run_dir: Path, *, log: Any = print) -> None:
        self.runner = runner
        self.expected = expected
        self.run_dir = run_dir
        self.log = log
        self.hellos: dict[str, WorkerInfo] = {}
        self.workers: list[WorkerInfo] = []
        self.ready: set[str] = set()
        self.results: dict[int, dict[str, Any]] = {}
        self.failures: list[str] = []
        self._barriers: dict[str, set[str]] = {}
        for kind, handler in ((HELLO, self._on_hello), (READY, self._on_ready), (BARRIER, self._on_barrier),
                              (RESULT, self._on_result), (FAILED, self._on_failed),
                              (SATURATED, self._on_saturated)):
            runner.register_message(kind, handler)

    def _on_hello(self, environment: Any, msg: Any) -> None:
        data = msg.data or {}
        hint = data.get("index_hint")
        self.hellos[msg.node_id] = WorkerInfo(msg.node_id, str(data["host"]), str(data.get("bind_host", "127.0.0.1")),
                                              int(data["push_port"]), int(data["metrics_port"]),
                                              None if hint is None else int(hint))

    def _on_ready(self, environment: Any, msg: Any) -> None:
        self.ready.add(msg.node_id)

    def _on_failed(self, environment: Any, msg: Any) -> None:
        self.failures.append(f"worker {msg.node_id}: {(msg.data or {}).get('error')}")

    def _on_saturated(self, environment: Any, msg: Any) -> None:
        data = msg.data or {}
        self.log(onset_warning(str(data.get("process")), Tick(**data["tick"]), data.get("since")))

    def _on_barrier(self, environment: Any, msg: Any) -> None:
        step = str(msg.data["step"])
        reached = self._barriers.setdefault(step, set())
        reached.add(msg.node_id)
        if len(reached) == len(self.workers):
            for worker in self.workers:
                self.runner.send_message(GO, {"step": step}, client_id=worker.node_id)

    def _on_result(self, environment: Any, msg: Any) -> None:
        index = int(msg.data["index"])
        result = msg.data["result"]
        write_result(self.run_dir, index, result)  # and the worker's observations, in a routing run
        self.results[index] = result

    def _wait(self, what: str, done: Callable[[], bool], timeout: float,
              check: Callable[[], str | None] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            problem = check() if check is not None else None
            if self.failures or problem:
                raise RigError(f"while waiting for {what}: {'; '.join(self.failures) or problem}")
            if time.monotonic() > deadline:
                raise RigError(f"timed out after {timeout:.0f} s waiting for {what}")
            gevent.sleep(0.1)

    def wait_for_workers(self, timeout: float, check: Callable[[], str | None] | None = None) -> list[WorkerInfo]:
        """The first `expected` workers to say hello, indexed 0..N-1 (a worker's hint when it is free)."""
        self._wait(f"{self.expected} worker(s) to connect (connected: {len(self.hellos)})",
                   lambda: len(self.hellos) >= self.expected, timeout, check)
        chosen = list(self.hellos.values())[:self.expected]
        taken: set[int] = set()
        for worker in chosen:
            if worker.index_hint is not None and 0 <= worker.index_hint < self.expected \
                    and worker.index_hint not in taken:
                worker.index = worker.index_hint
                taken.add(worker.index)
        free = iter(i for i in range(self.expected) if i not in taken)
        for worker in chosen:
            if worker.index < 0:
                worker.index = next(free)
        self.workers = sorted(chosen, key=lambda w: w.index)
        return self.workers

    def configure(self, configs: list[RunConfig], scenario: Scenario, timeout: float,
                  check: Callable[[], str | None] | None = None) -> None:
        """Hand each worker its run config and the scenario; wait until all are ready."""
        text = scenario.path.read_text()
        for worker, config in zip(self.workers, configs, strict=True):
            self.runner.send_message(CONFIG, {"config": asdict(config), "scenario_name": scenario.path.name,
                                              "scenario_text": text}, client_id=worker.node_id)
        self._wait("the workers to start their devices' services",
                   lambda: len(self.ready) >= len(self.workers), timeout, check)

    def netdown(self, down: bool) -> None:
        for worker in self.workers:
            self.runner.send_message(NETDOWN, {"down": down}, client_id=worker.node_id)

    def finish(self, verify: bool, timeout: float) -> list[str]:
        """Final sync in step, then every worker's results; the workers whose results are missing."""
        for worker in self.workers:
            self.runner.send_message(FINISH, {"verify": verify}, client_id=worker.node_id)
        try:
            self._wait("the workers' results", lambda: len(self.results) >= len(self.workers), timeout)
        except RigError as exc:
            return [f"worker {w.index} ({w.node_id}): {exc}" for w in self.workers if w.index not in self.results]
        return []


class LocalWorkers:
    """`rig worker` processes on this machine, each logging to RUN_DIR/worker-K.log."""

    def __init__(self, count: int, port: int, run_dir: Path, listen_host: str = "127.0.0.1") -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        root = str(project_root())
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        for k in range(count):
            with (run_dir / f"worker-{k}.log").open("w") as log_file:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "rig", "worker", "--master-host", "127.0.0.1", "--master-port", str(port),
                     "--index-hint", str(k), "--bind-host", listen_host], env=env, stdout=log_file,
                    stderr=subprocess.STDOUT))

    def check(self) -> str | None:
        dead = [f"worker {k} exited with {p.returncode} (see worker-{k}.log)"
                for k, p in enumerate(self.processes) if p.poll() is not None]
        return "; ".join(dead) or None

    def wait(self, timeout: float) -> list[str]:
        broken = []
        for k, process in enumerate(self.processes):
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                code = -9
            if code != 0:
                broken.append(f"worker {k} (exit {code}, log worker-{k}.log)")
        return broken

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()


class MasterSession:
    """The master's part of a distributed `rig run`: workers up and introduced, configured, run,
    finished in step, results in RUN_DIR; the master's own metrics endpoint while it lasts."""

    def __init__(self, environment: Any, scenario: Scenario, run_dir: Path, spread: Distribution,
                 metrics: tuple[str, int], log: Any = print,
                 limits: tuple[float, float] = (CPU_THRESHOLD, LAG_THRESHOLD_S)) -> None:
        from rig.gateway.local import free_port

        self.environment = environment
        self.scenario = scenario
        self.run_dir = run_dir
        self.spread = spread
        self.metrics = metrics
        self.log = log
        self.port = spread.port or (DEFAULT_MASTER_PORT if spread.remote else free_port())
        self.master: Any = None
        self.coordinator: Coordinator | None = None
        self.local: LocalWorkers | None = None
        self._server: Any = None
        self.saturation = SaturationMonitor(SaturationTracker(
            "master", cpu_threshold=limits[0], lag_threshold_s=limits[1],
            on_onset=lambda name, tick: log(onset_warning(name, tick, self.started_at))))
        self.started_at: float | None = None

    def __enter__(self) -> MasterSession:
        self.master = self.environment.create_master_runner(master_bind_host=self.spread.bind_host,
                                                            master_bind_port=self.port)
        self.coordinator = Coordinator(self.master, self.spread.workers, self.run_dir, log=self.log)
        host, port = self.metrics
        if port:
            from prometheus_client import start_http_server

            from rig.metrics import MasterCollector, RunRegistry, SaturationCollector

            registry = RunRegistry(self.run_dir.name, self.scenario.name, "master")
            registry.register(MasterCollector(lambda: int(self.master.worker_count),
                                              lambda: int(self.master.user_count)))
            registry.register(SaturationCollector(lambda: [self.saturation]))
            self._server = start_http_server(port, addr=host, registry=registry)
            self.log(f"master metrics on {host}:{port}")
        if self.spread.remote:
            self.log(f"waiting for {self.spread.remote} worker(s): rig worker --master-host <this host> "
                     f"--master-port {self.port} (master listening on {self.spread.bind_host}:{self.port})")
        self.local = LocalWorkers(self.spread.local, self.port, self.run_dir, self.spread.local_listen_host)
        return self

    def _check(self) -> str | None:
        return self.local.check() if self.local is not None else None

    def wait_for_workers(self) -> list[Endpoint]:
        assert self.coordinator is not None
        workers = self.coordinator.wait_for_workers(self.spread.timeout, self._check)
        for w in workers:
            self.log(f"worker {w.index}: {w.node_id} at {w.host} (push {w.push_port}, metrics {w.metrics_port})")
        return [Endpoint(w.host, w.push_port, w.metrics_port, w.bind_host) for w in workers]

    def configure(self, configs: list[RunConfig]) -> None:
        assert self.coordinator is not None
        self.coordinator.configure(configs, self.scenario, self.spread.timeout, self._check)

    def netdown(self, down: bool) -> None:
        """Every worker's device links down (a local netdown fault) or up again."""
        if self.coordinator is not None:
            self.coordinator.netdown(down)

    def run(self, csv_writer: Any, injector: Any, verify: bool) -> None:
        assert self.coordinator is not None and self.local is not None
        writer = gevent.spawn(csv_writer)
        # The master sees its users and locust's events (wakes, arrivals, failed wakes), not the devices.
        progress = Progress(lambda: Snapshot({"users": int(self.master.user_count)},
                                             errors=int(self.master.stats.total.num_failures)),
                            self.scenario.duration_s)
        self.started_at = time.time()
        self.saturation.start()
        self.master.start(self.scenario.device_count, spawn_rate=max(1.0, self.scenario.ramp_per_s))
        injector.start()
        progress.start()
        gevent.sleep(self.scenario.duration_s)
        progress.stop()
        injector.stop()  # a fault in progress ends with the gateway up again, before the final sync
        self.master.stop()
        self.saturation.stop()  # the load phase only, as in the workers
        writer.kill()
        csv_writer.close_files()
        broken = self.coordinator.finish(verify, timeout=300)
        self.master.quit()
        broken += self.local.wait(timeout=60)
        if broken:
            raise RigError(f"locust workers failed, their results are missing: {', '.join(broken)}")

    def __exit__(self, *exc: object) -> None:
        if self.local is not None:
            self.local.kill()
        if self.master is not None and exc[0] is not None:
            self.master.quit()
        if self._server is not None:
            self._server[0].shutdown()
