"""Prometheus metrics of the rig: instruments on an explicit registry, one endpoint per process."""

from rig.metrics.instruments import DeviceStateCollector, MasterCollector, PushCollector, RigMetrics, RunRegistry
from rig.metrics.saturation import SaturationCollector, SaturationMonitor

__all__ = ["DeviceStateCollector", "MasterCollector", "PushCollector", "RigMetrics", "RunRegistry",
           "SaturationCollector", "SaturationMonitor"]
