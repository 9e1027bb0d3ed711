"""Prometheus metrics of the rig: instruments on an explicit registry, one endpoint per process."""

from rig.metrics.instruments import DeviceStateCollector, MasterCollector, PushCollector, RigMetrics, RunRegistry

__all__ = ["DeviceStateCollector", "MasterCollector", "PushCollector", "RigMetrics", "RunRegistry"]
