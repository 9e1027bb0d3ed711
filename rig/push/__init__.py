"""The push service: Sync Gateway webhooks in, silent pushes to sleeping devices out."""

from rig.push.dispatcher import PushCounters, PushDispatcher
from rig.push.service import PushService, PushTarget

__all__ = ["PushCounters", "PushDispatcher", "PushService", "PushTarget"]
