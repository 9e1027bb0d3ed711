"""Couchbase Lite releases as data: what each one does on the wire.

The one place that knows release names. Everything else asks a `ClientRelease` for a behaviour
(`versioning`, `subprotocols(...)`, `collections_first`, ...) and never compares version strings.
Read from LiteCore's release tags (Replicator/Replicator.cc `compatibleProtocols`, `getCollections`,
Puller.cc, Pusher+Revs.cc, RevFinder.cc, Checkpoint.cc) and the spec's "Corrections and settled questions".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rig._errors import ConfigError, did_you_mean

V3 = "BLIP_3+CBMobile_3"
V4 = "BLIP_3+CBMobile_4"


class Versioning(Enum):
    """How the device's database identifies revisions."""

    REV_TREES = "rev-trees"
    VERSION_VECTORS = "version-vectors"


@dataclass(frozen=True, slots=True)
class ClientRelease:
    name: str
    versioning: Versioning
    collections_first: bool
    """Starts with `getCollections` (then `collection=0` on every message) instead of legacy `getCheckpoint`,
    even for the default collection alone. Every release does so for named collections (LiteCore 3.1+)."""
    reads_checkpoint_rev_property: bool
    """Looks for `rev` in each `getCollections` entry where Sync Gateway puts `_rev`: the first `setCheckpoint`
    over an existing checkpoint then fails 409, and the device re-reads with `getCheckpoint` and saves again.
    Every release that sends `getCollections` does (3.3 too, when it replicates named collections)."""
    waits_for_checkpoint_without_local: bool
    """Waits for the remote checkpoint before replicating even when it holds no local checkpoint."""
    v4_first_when_push_only: bool
    """A rev-tree database that only pushes offers CBMobile_4 before CBMobile_3 (3.4+)."""
    orders_compound_sequences: bool
    """Resuming between two different checkpoints, orders Sync Gateway's compound sequences (`ParsedSequenceID`,
    3.4 and 4.1); older releases compare integer sequences only and start from 0 otherwise."""

    def subprotocols(self, *, push: bool, pull: bool) -> tuple[str, ...]:
        """`Sec-WebSocket-Protocol` entries in preference order (LiteCore `compatibleProtocols`)."""
        if self.versioning is Versioning.VERSION_VECTORS:
            return (V4,)
        if pull:
            return (V3,)
        return (V4, V3) if self.v4_first_when_push_only else (V3, V4)

    @property
    def uses_version_vectors(self) -> bool:
        return self.versioning is Versioning.VERSION_VECTORS

    def __str__(self) -> str:
        return self.name


RELEASES: dict[str, ClientRelease] = {
    "3.3": ClientRelease("3.3", Versioning.REV_TREES, collections_first=False, reads_checkpoint_rev_property=False,
                         waits_for_checkpoint_without_local=False, v4_first_when_push_only=False,
                         orders_compound_sequences=False),
    "3.4": ClientRelease("3.4", Versioning.REV_TREES, collections_first=True, reads_checkpoint_rev_property=True,
                         waits_for_checkpoint_without_local=True, v4_first_when_push_only=True,
                         orders_compound_sequences=True),
    "4.1": ClientRelease("4.1", Versioning.VERSION_VECTORS, collections_first=True,
                         reads_checkpoint_rev_property=True, waits_for_checkpoint_without_local=True,
                         v4_first_when_push_only=True, orders_compound_sequences=True),
}
DEFAULT_RELEASE = "3.3"


def client_release(name: str | ClientRelease, *, where: str = "cbl") -> ClientRelease:
    """The release called `name`; a ConfigError naming `where` (file and key) for an unknown one."""
    if isinstance(name, ClientRelease):
        return name
    release = RELEASES.get(name) if isinstance(name, str) else None
    if release is None:
        raise ConfigError(f"{where}: unknown Couchbase Lite release {name!r}{did_you_mean(str(name), RELEASES)} "
                          f"(the rig emulates: {', '.join(RELEASES)})")
    return release
