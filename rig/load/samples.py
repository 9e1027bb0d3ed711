"""Time series a load process records while it runs: device states, wakes, arrivals, documents
moved, and (in the first process) the gateway's push and pull counters, once per interval.

They go into the process's results file (`samples`), from which the run report draws device
states and throughput over time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from rig._errors import RigError
from rig.device.measure import Measurements
from rig.device.runner import DeviceRunner
from rig.gateway import AdminClient
from rig.load.cpu_cost import CPU_METRIC, METRIC_KEY, PROC_KEY

SAMPLE_INTERVAL_S = 1.0
GATEWAY_COUNTERS = {"gateway_pushed": "sgw_replication_push_doc_push_count",
                    "gateway_pulled": "sgw_replication_pull_rev_send_count",
                    "gateway_replications": "sgw_database_num_replications_total",
                    "gateway_rejected": "sgw_security_num_docs_rejected"}
"""Sampled every second so that figures over the run survive a gateway restart (`rig.runfiles.increase`)."""


class Sampler:
    """Calls `sample` every `interval_s` on a daemon thread until stopped, at most `max_samples` times."""

    def __init__(self, sample: Callable[[], dict[str, Any]], *, interval_s: float = SAMPLE_INTERVAL_S,
                 max_samples: int = 100_000) -> None:
        self._sample = sample
        self._interval = interval_s
        self._max = max_samples
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.samples: list[dict[str, Any]] = []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rig-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while len(self.samples) < self._max and not self._stop.is_set():
            self.sample_now()
            self._stop.wait(self._interval)

    def sample_now(self) -> None:
        """One sample now, between the periodic ones (just before a fault kills the gateway).

        One at a time: two scrapes of the gateway in flight together could return in the other
        order, and a counter read later but stamped earlier looks like a restart."""
        with self._lock:
            if len(self.samples) < self._max:
                self.samples.append(self._sample())

    def stop(self) -> list[dict[str, Any]]:
        """Stop, take one last sample, and return them all."""
        if self._thread is not None and not self._stop.is_set():
            self._stop.set()
            self._thread.join(timeout=30)
            self.sample_now()
        return list(self.samples)


def fleet_sample(runners: Sequence[DeviceRunner], measurements: Measurements, registry: CollectorRegistry,
                 admin: AdminClient | None, database: str,
                 gateway_cpu: Callable[[], float | None] | None = None) -> dict[str, Any]:
    """One sample: wall time, devices by state, cumulative wakes, arrivals, documents and gateway counters.

    The gateway is read first and the time taken after it answered, so the devices' counts and
    the gateway's are read close together (a scrape of a busy gateway takes a while). With the
    counters, the gateway's CPU seconds: its own `process_cpu_seconds_total` when it exposes it, and
    `gateway_cpu()` (/proc of a gateway process the rig started) when given (rig.load.cpu_cost)."""
    gateway: dict[str, float] | None = None
    if admin is not None:
        try:
            values = admin.metrics((*GATEWAY_COUNTERS.values(), CPU_METRIC))
        except RigError:
            values = None
        if values is not None:
            gateway = {key: sum(v.value for v in values
                                if v.name in (name, f"{name}_total") and v.labels.get("database") == database)
                       for key, name in GATEWAY_COUNTERS.items()}
            cpu = [v.value for v in values if v.name == CPU_METRIC]
            if cpu:
                gateway[METRIC_KEY] = cpu[0]
        own = gateway_cpu() if gateway_cpu is not None else None
        if gateway is not None and own is not None:
            gateway[PROC_KEY] = own
    states = Counter(runner.lifecycle.state.value for runner in list(runners))
    documents: dict[str, float] = {}
    for family in registry.collect():
        if family.name == "rig_documents":
            for s in family.samples:
                if s.name == "rig_documents_total":
                    documents[s.labels["direction"]] = documents.get(s.labels["direction"], 0.0) + s.value
    sample: dict[str, Any] = {"t": round(time.time(), 3), "states": dict(sorted(states.items())),
                              "wakes": len(measurements.wakes), "arrivals": len(measurements.arrivals),
                              "pulled": documents.get("pulled", 0.0), "pushed": documents.get("pushed", 0.0),
                              "pushed_reply_lost": sum(runner.device.store.pushed_replies_lost()
                                                       for runner in list(runners)),
                              "pushed_awaiting_reply": sum(runner.device.store.pushed_awaiting_reply()
                                                           for runner in list(runners))}
    sample.update(gateway or {})
    return sample
