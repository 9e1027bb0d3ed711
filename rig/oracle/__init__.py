"""The conformance oracle: routing spec, sync function rendering, expected visibility, findings. Pure."""

from rig.oracle.check import Checker, Finding, Kind, check
from rig.oracle.expect import Decision, World
from rig.oracle.observations import (
    DocView,
    GatewayView,
    Held,
    Observation,
    PrincipalChange,
    RevisionNames,
    SyncSnapshot,
    WriteAttempt,
    read_jsonl,
    write_jsonl,
)
from rig.oracle.render import render
from rig.oracle.routing import RoutingSpec, Template, load

__all__ = [
    "Checker",
    "Decision",
    "DocView",
    "Finding",
    "GatewayView",
    "Held",
    "Kind",
    "Observation",
    "PrincipalChange",
    "RevisionNames",
    "RoutingSpec",
    "SyncSnapshot",
    "Template",
    "World",
    "WriteAttempt",
    "check",
    "load",
    "read_jsonl",
    "render",
    "write_jsonl",
]
