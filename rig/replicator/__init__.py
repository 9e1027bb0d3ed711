"""A Couchbase Lite 3.x replicator over BLIP: pure state machine plus the device's local store."""

from rig.replicator.checkpoint import checkpoint_id
from rig.replicator.link import EventKind, ReplicationEvent, ReplicationStats
from rig.replicator.replicator import Replicator, ReplicatorConfig, ReplicatorState
from rig.replicator.store import Attachment, Document, LocalStore

__all__ = [
    "Attachment",
    "Document",
    "EventKind",
    "LocalStore",
    "ReplicationEvent",
    "ReplicationStats",
    "Replicator",
    "ReplicatorConfig",
    "ReplicatorState",
    "checkpoint_id",
]
