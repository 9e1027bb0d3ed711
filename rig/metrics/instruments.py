"""The rig's Prometheus instruments, on an explicit registry (one per process, never the global one).

Labels have bounded cardinality: trigger, phase, kind, state, outcome, profile, cbl (the
Couchbase Lite releases the rig emulates, anything else counted as "other"); never a device,
user or document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from rig.device.measure import Arrival, WakeMeasurement
from rig.push.dispatcher import PushCounters
from rig.replicator import EventKind, ReplicationEvent
from rig.replicator.clients import RELEASES

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)
_TRIGGERS = ("push", "refresh")
"""Wake triggers a measurement can carry (foreground launches are not measured as wakes)."""
OTHER_RELEASE = "other"


def release_label(cbl: str) -> str:
    """The `cbl` label value: a release the rig emulates, else "other" (the label stays bounded)."""
    return cbl if cbl in RELEASES else OTHER_RELEASE


class RunRegistry(CollectorRegistry):
    """A registry whose every sample carries `run="<run id>"`, plus `rig_run_info{run, scenario, worker}` = 1.

    One value per process, so the label stays bounded; it lets one Prometheus hold many runs
    and dashboards select one."""

    def __init__(self, run: str, scenario: str, worker: int | str) -> None:
        super().__init__()
        self.run = run
        info = GaugeMetricFamily("rig_run_info", "The run this process belongs to (always 1)",
                                 labels=["scenario", "worker"])
        info.add_metric([scenario, str(worker)], 1)
        self._info = info

    def collect(self) -> Iterator[Metric]:
        yield from self._labelled([self._info])
        yield from self._labelled(super().collect())

    def _labelled(self, families: Iterable[Metric]) -> Iterator[Metric]:
        for family in families:
            family.samples = [s._replace(labels={"run": self.run, **s.labels}) for s in family.samples]
            yield family


class RigMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.wakes = PromCounter("rig_wakes_total", "Background wakes and foreground launches, by trigger",
                                 ["trigger", "cbl"], registry=registry)
        self.budget_kills = PromCounter("rig_budget_kills_total", "Wakes killed for overrunning their budget",
                                        ["trigger", "cbl"], registry=registry)
        self.sync_duration = Histogram("rig_sync_duration_seconds",
                                       "Wake to caught up, real seconds, by trigger", ["trigger", "cbl"],
                                       buckets=_LATENCY_BUCKETS, registry=registry)
        self.arrival = Histogram("rig_write_to_arrival_seconds",
                                 "Document written to arrived on a device that may read it, real seconds",
                                 ["phase", "cbl"], buckets=_LATENCY_BUCKETS, registry=registry)
        self.documents = PromCounter("rig_documents_total", "Documents moved by devices", ["direction", "cbl"],
                                     registry=registry)
        self.replication_events = PromCounter("rig_replication_events_total",
                                              "Conflicts, rejected writes, purges, norevs and errors",
                                              ["kind", "cbl"], registry=registry)
        # Every known label value exists from the start (at 0), so dashboards and rates see
        # budget kills or errors that never happened as 0 rather than as no data. Releases: the
        # ones the rig emulates (a handful), each labelled series made once here.
        for cbl in RELEASES:
            for trigger in _TRIGGERS:
                self.wakes.labels(trigger, cbl)
                self.budget_kills.labels(trigger, cbl)
                self.sync_duration.labels(trigger, cbl)
            for phase in ("awake", "after_wake"):
                self.arrival.labels(phase, cbl)
            for direction in ("pulled", "pushed"):
                self.documents.labels(direction, cbl)
            for kind in sorted(k.value for k in self._COUNTED):
                self.replication_events.labels(kind, cbl)

    def on_measurement(self, item: WakeMeasurement | Arrival) -> None:
        cbl = release_label(item.cbl)
        if isinstance(item, Arrival):
            self.arrival.labels(item.phase, cbl).observe(item.write_to_arrival_s)
            return
        self.wakes.labels(item.trigger, cbl).inc()
        if item.overrun:
            self.budget_kills.labels(item.trigger, cbl).inc()
        if item.wake_to_caught_up_s is not None:
            self.sync_duration.labels(item.trigger, cbl).observe(item.wake_to_caught_up_s)

    _COUNTED = {EventKind.CONFLICT, EventKind.REJECTED, EventKind.PURGED, EventKind.NOREV, EventKind.ERROR}

    def on_replication_event(self, event: ReplicationEvent, cbl: str = "") -> None:
        if event.kind is EventKind.PULLED:
            self.documents.labels("pulled", release_label(cbl)).inc()
        elif event.kind is EventKind.PUSHED:
            self.documents.labels("pushed", release_label(cbl)).inc()
        elif event.kind in self._COUNTED:
            self.replication_events.labels(event.kind.value, release_label(cbl)).inc()

    def observer(self, cbl: str) -> Callable[[ReplicationEvent], None]:
        """The replication observer of one device of release `cbl`."""
        def observe(event: ReplicationEvent) -> None:
            self.on_replication_event(event, cbl)
        return observe

    def documents_by_release(self) -> dict[str, dict[str, float]]:
        """{cbl: {"pulled": n, "pushed": n}} as counted so far (only releases that moved documents)."""
        counts: dict[str, dict[str, float]] = {}
        for family in self.documents.collect():
            for sample in family.samples:
                if sample.name == "rig_documents_total" and sample.value:
                    counts.setdefault(sample.labels["cbl"], {})[sample.labels["direction"]] = sample.value
        return counts


class DeviceStateCollector(Collector):
    """`rig_devices{state, cbl}`: how many devices are in each lifecycle state, per release, read at scrape time.

    `states` gives each device's state, or (state, release) pairs."""

    def __init__(self, states: Callable[[], Iterable[str | tuple[str, str]]]) -> None:
        self._states = states

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("rig_devices", "Devices by lifecycle state and Couchbase Lite release",
                                   labels=["state", "cbl"])
        pairs = [item if isinstance(item, tuple) else (item, "") for item in self._states()]
        for (state, cbl), count in sorted(Counter((state, release_label(cbl)) for state, cbl in pairs).items()):
            family.add_metric([state, cbl], count)
        yield family


class PushCollector(Collector):
    """`rig_push_events_total{outcome}` from the push service's counters."""

    def __init__(self, counters: Callable[[], Iterable[PushCounters]]) -> None:
        self._counters = counters

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("rig_push_events", "Silent pushes by outcome", labels=["outcome"])
        totals: Counter[str] = Counter()
        for counters in self._counters():
            for outcome in ("received", "targeted", "delivered", "coalesced", "throttled", "dropped", "refused",
                            "overflowed"):
                totals[outcome] += getattr(counters, outcome)
        for outcome, value in sorted(totals.items()):
            family.add_metric([outcome], value)
        yield family


class MasterCollector(Collector):
    """The locust master of a distributed run: `rig_workers` connected and `rig_users` (devices) spawned."""

    def __init__(self, workers: Callable[[], int], users: Callable[[], int]) -> None:
        self._workers = workers
        self._users = users

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("rig_workers", "Locust workers connected to this run's master",
                                value=self._workers())
        yield GaugeMetricFamily("rig_users", "Devices (locust users) the master has spawned on its workers",
                                value=self._users())
