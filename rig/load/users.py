"""Locust users that are virtual devices: one locust user lives one device's lifecycle."""

from __future__ import annotations

import threading
import time
from typing import Any

from locust import User, task
from locust.exception import StopUser

from rig.device.measure import Arrival, WakeMeasurement
from rig.device.runner import DeviceRunner
from rig.load.process import LoadProcess

_process: LoadProcess | None = None
_ready = threading.Event()


def set_process(process: LoadProcess) -> None:
    global _process
    _process = process
    _ready.set()


def current_process(timeout: float = 60.0) -> LoadProcess:
    # A worker may be told to spawn while its init listener still waits on I/O: wait for it.
    _ready.wait(timeout)
    if _process is None:
        raise RuntimeError("the rig's load process is not set up: run through `rig run` or the rig's locustfile")
    return _process


def fire_locust_events(environment: Any) -> Any:
    """Measurements as locust request events, so locust's own statistics and charts mean something."""
    def fire(item: WakeMeasurement | Arrival) -> None:
        if isinstance(item, Arrival):
            environment.events.request.fire(request_type="ARRIVAL", name=item.phase,
                                            response_time=item.write_to_arrival_s * 1000, response_length=0,
                                            exception=None, context={})
            return
        exception = None if item.wake_to_caught_up_s is not None else RuntimeError(
            "budget overrun" if item.overrun else "sync failed")
        environment.events.request.fire(request_type="WAKE", name=item.trigger,
                                        response_time=(item.wake_to_caught_up_s or 0.0) * 1000,
                                        response_length=item.docs_pulled + item.docs_pushed,
                                        exception=exception, context={})
    return fire


class DeviceUser(User):
    """One virtual Couchbase Lite device of the scenario; its profile decides how it lives."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.runner: DeviceRunner | None = None
        self._stop = threading.Event()

    def on_start(self) -> None:
        self.runner = current_process().new_runner()

    @task
    def live(self) -> None:
        process = current_process()
        if self.runner is None:
            raise StopUser()  # the fleet is fully spawned in this process
        remaining = (process.started_at or time.time()) + process.config.duration_s - time.time()
        if remaining > 0:
            self.runner.run(self._stop, duration=remaining, start=process.start_state(self.runner))
        while not self._stop.is_set():
            self._stop.wait(1.0)
        raise StopUser()

    def on_stop(self) -> None:
        self._stop.set()
