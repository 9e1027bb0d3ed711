"""Controlling the Sync Gateway under test: build, run, point at, administer."""

from rig.gateway.admin import AdminClient, MetricSample, PublicClient
from rig.gateway.base import GatewayController
from rig.gateway.config import CollectionSpec, DatabaseSpec
from rig.gateway.local import LocalGateway
from rig.gateway.url import UrlGateway

__all__ = [
    "AdminClient",
    "CollectionSpec",
    "DatabaseSpec",
    "GatewayController",
    "LocalGateway",
    "MetricSample",
    "PublicClient",
    "UrlGateway",
]
