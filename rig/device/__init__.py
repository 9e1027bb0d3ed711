"""Virtual Couchbase Lite devices."""

from rig.device.device import Credentials, VirtualDevice, blipsync_url

__all__ = ["Credentials", "VirtualDevice", "blipsync_url"]
