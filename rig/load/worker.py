"""`rig worker --master-host HOST`: a locust worker of a distributed `rig run`, anywhere the master,
the gateway and the gateway's webhooks can reach (protocol: rig.load.coordinate)."""

from __future__ import annotations

import socket
import tempfile
import threading
import traceback
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from locust import events
from locust.env import Environment

from rig.gateway.local import free_port
from rig.load.coordinate import BARRIER, CONFIG, FAILED, FINISH, GO, HELLO, NETDOWN, READY, RESULT, SATURATED
from rig.load.process import LoadProcess, RunConfig
from rig.load.users import DeviceUser, fire_locust_events, set_process
from rig.metrics.saturation import Tick, onset_warning

BARRIER_TIMEOUT_S = 300.0


def own_address(master_host: str, master_port: int) -> str:
    """This machine's address on the route to the master (what the master's network can reach)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((socket.gethostbyname(master_host), master_port))  # UDP: sends nothing
        return str(sock.getsockname()[0])


class Worker:
    def __init__(self, runner: Any, environment: Any, *, log: Any = print) -> None:
        self.runner = runner
        self.environment = environment
        self.log = log
        self.process: LoadProcess | None = None
        self.index = -1
        self.finished = False
        self._steps: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        runner.register_message(CONFIG, self._on_config, concurrent=True)
        runner.register_message(FINISH, self._on_finish, concurrent=True)
        runner.register_message(GO, self._on_go)
        runner.register_message(NETDOWN, self._on_netdown)

    def _fail(self, what: str) -> None:
        self.log(f"rig worker: {what}\n{traceback.format_exc()}")
        self.runner.send_message(FAILED, {"error": f"{what}: {traceback.format_exc(limit=3).strip()[-800:]}"})

    def _on_config(self, environment: Any, msg: Any) -> None:
        try:
            config = RunConfig(**msg.data["config"])
            path = Path(config.scenario_path)
            text = msg.data["scenario_text"]
            if not path.is_file() or path.read_text() != text:
                # The master's scenario file is not here (another machine or container): a copy of it.
                path = Path(tempfile.mkdtemp(prefix="rig-worker-")) / msg.data["scenario_name"]
                path.write_text(text)
                config = replace(config, scenario_path=str(path))
            process = LoadProcess(config, barrier=self.barrier)
            process.saturation.tracker.on_onset = self._saturated
            process.measurements.listeners.append(fire_locust_events(environment))
            process.start()
            self.process, self.index = process, config.worker_index
            set_process(process)
            self.log(f"rig worker {self.index} of {config.worker_count}: run {Path(config.run_dir).name}, "
                     f"push service on {config.bind_host}:{config.push_port}, "
                     f"metrics on {config.bind_host}:{config.metrics_port}")
            self.runner.send_message(READY, {"index": self.index})
        except Exception:
            self._fail("setting up the run failed")

    def _on_finish(self, environment: Any, msg: Any) -> None:
        try:
            if self.process is None:
                raise RuntimeError("asked to finish a run it was never given")
            result = self.process.finish(verify=bool(msg.data["verify"]), write=False)
            self.finished = True
            self.runner.send_message(RESULT, {"index": self.index, "result": result})
            self.log(f"rig worker {self.index}: {result['devices']} devices, results sent to the master")
        except Exception:
            self._fail("finishing the run failed")

    def _saturated(self, process: str, tick: Tick) -> None:
        """Saturation started here: in this worker's log, and to the master, which prints it."""
        since = self.process.started_at if self.process is not None else None
        self.log(onset_warning(process, tick, since))
        self.runner.send_message(SATURATED, {"process": process, "tick": asdict(tick), "since": since})

    def _step(self, step: str) -> threading.Event:
        with self._lock:
            return self._steps.setdefault(step, threading.Event())

    def _on_netdown(self, environment: Any, msg: Any) -> None:
        process = self.process
        if process is not None and process.links is not None:
            process.links.set_down(bool(msg.data["down"]))

    def _on_go(self, environment: Any, msg: Any) -> None:
        self._step(str(msg.data["step"])).set()

    def barrier(self, step: str) -> None:
        self.runner.send_message(BARRIER, {"step": step})
        if not self._step(step).wait(BARRIER_TIMEOUT_S):
            raise RuntimeError(f"worker {self.index}: other workers never reached {step!r}")

    def close(self) -> None:
        """After the master said quit: what a run cut short left running."""
        if self.process is not None and not self.finished:
            self.process.push.stop()


def serve(master_host: str, master_port: int, *, bind_host: str = "127.0.0.1", advertise_host: str | None = None,
          push_port: int = 0, metrics_port: int = 0, index_hint: int | None = None, log: Any = print) -> int:
    """Join the master at HOST:PORT (retrying for five minutes), run the share of devices it deals
    out, send results back; returns when the master says quit (0 if this worker finished its run)."""
    environment = Environment(user_classes=[DeviceUser], events=events)
    log(f"rig worker: connecting to the master at {master_host}:{master_port}")
    runner = environment.create_worker_runner(master_host, master_port)
    worker = Worker(runner, environment, log=log)
    probe = "127.0.0.1" if bind_host == "0.0.0.0" else bind_host
    host = advertise_host or (bind_host if bind_host not in ("0.0.0.0", "") else own_address(master_host, master_port))
    runner.send_message(HELLO, {"host": host, "bind_host": bind_host, "index_hint": index_hint,
                                "push_port": push_port or free_port(probe),
                                "metrics_port": metrics_port or free_port(probe)})
    runner.greenlet.join()
    worker.close()
    return 0 if worker.finished else 1
