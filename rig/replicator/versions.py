"""Version vectors (HLV) as Couchbase Lite 4.x keeps them and CBMobile_4 carries them.

A version is `<value in lowercase hex>@<source ID>`: a hybrid logical clock value and the
22-character base64 ID of the database that wrote it. A vector is the current version (CV),
optional merge versions (MV: the CVs of two conflicting revisions a merge resolved) and previous
versions (PV: the newest value of every other source that once wrote the document).

Text form (LiteCore `VersionVector::asASCII`, Sync Gateway `extractHLVFromBlipString`):
`cv;pv1,pv2` without merge versions, `cv,mv1,mv2;pv1` with them (a trailing `;` when no PV).
Comparison and merging follow LiteCore 4.1 (`VersionVector::compareTo`, `merge`, `trivialMerge`);
what Sync Gateway decides about a pushed vector is in `gateway_accepts_proposal`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

SOURCE_ID_BYTES = 16
_COUNTER_BITS = 0xFFFF


class VersionError(ValueError):
    """A version or vector string that is not of the protocol's form."""


def new_source_id(random_bytes: bytes) -> str:
    """A database's source ID as Couchbase Lite makes it: 16 random bytes, base64 without padding (22 chars)."""
    if len(random_bytes) != SOURCE_ID_BYTES:
        raise ValueError(f"a source ID takes {SOURCE_ID_BYTES} bytes, not {len(random_bytes)}")
    return base64.b64encode(random_bytes).decode().rstrip("=")


def is_rev_tree_id(rev: str) -> bool:
    """`<generation>-<digest>` (Sync Gateway `isLegacyRev`): a revision of a rev-tree database."""
    head, dash, _ = rev.partition("-")
    return bool(dash) and head.isdigit() and int(head) >= 1 and "@" not in rev


@dataclass(frozen=True, slots=True, order=True)
class Version:
    value: int
    source: str

    def __str__(self) -> str:
        return f"{self.value:x}@{self.source}"

    @classmethod
    def parse(cls, text: str) -> Version:
        value, at, source = text.strip().partition("@")
        if not at or not source:
            raise VersionError(f"malformed version {text!r}: no '@' delimiter")
        try:
            number = int(value, 16)
        except ValueError:
            raise VersionError(f"malformed version {text!r}: value is not hex") from None
        if number < 0 or number >= 1 << 64:
            raise VersionError(f"malformed version {text!r}: value out of range")
        return cls(number, source)


class Order(Enum):
    """How one vector relates to another (LiteCore `versionOrder`)."""

    SAME = "same"
    OLDER = "older"
    NEWER = "newer"
    CONFLICTING = "conflicting"


@dataclass(frozen=True, slots=True)
class VersionVector:
    current: Version
    merges: tuple[Version, ...] = ()
    previous: tuple[Version, ...] = ()
    """Newest first, one per source (the current source never appears here)."""

    # Text ------------------------------------------------------------------------------------
    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        """The whole vector, as sent in a `proposeChanges` row."""
        history = self.history
        if not history:
            return str(self.current)
        return f"{self.current},{history}" if self.merges else f"{self.current};{history}"

    @property
    def history(self) -> str:
        """The `history` property of a pushed `rev`: the vector without its current version."""
        pv = ",".join(str(v) for v in self.previous)
        if self.merges:
            return ",".join(str(v) for v in self.merges) + ";" + pv
        return pv

    @classmethod
    def parse(cls, text: str) -> VersionVector:
        """Parse the text form as Sync Gateway does (rev-tree IDs among the PV are dropped)."""
        fields = text.split(";")
        if len(fields) > 2:
            raise VersionError(f"invalid vector {text!r}: more than one ';'")
        if fields[0].strip() == "":
            raise VersionError(f"invalid vector {text!r}: empty")
        head = [item.strip() for item in fields[0].split(",")]
        if any(is_rev_tree_id(item) for item in head):
            raise VersionError(f"invalid vector {text!r}: rev-tree ID among current and merge versions")
        current, *merges = (Version.parse(item) for item in head)
        previous: list[Version] = []
        if len(fields) == 2 and fields[1].strip():
            for item in fields[1].split(","):
                if is_rev_tree_id(item.strip()):
                    continue
                previous.append(Version.parse(item))
        seen = {v.source for v in merges}
        if len(seen) != len(merges):
            raise VersionError(f"invalid vector {text!r}: a source twice among the merge versions")
        if current in merges:
            raise VersionError(f"invalid vector {text!r}: the current version is also a merge version")
        pv_sources = [v.source for v in previous]
        if len(set(pv_sources)) != len(pv_sources) or seen & set(pv_sources):
            raise VersionError(f"invalid vector {text!r}: a source twice in the vector")
        return cls(current, tuple(merges), tuple(previous))

    @classmethod
    def from_rev(cls, rev: str, history: str) -> VersionVector:
        """The vector of a pulled `rev` message (Sync Gateway `GetHLVFromRevMessage`)."""
        if not history:
            return cls.parse(rev)
        return cls.parse(f"{rev},{history}" if ";" in history else f"{rev};{history}")

    # Queries ---------------------------------------------------------------------------------
    def value_of(self, source: str) -> int | None:
        """The newest value this vector holds for `source` (merge versions may share the CV's source)."""
        best: int | None = None
        for version in (self.current, *self.merges, *self.previous):
            if version.source == source and (best is None or version.value > best):
                best = version.value
        return best

    def dominates(self, version: Version) -> bool:
        """This vector already contains `version` (Sync Gateway `DominatesSource`)."""
        value = self.value_of(version.source)
        return value is not None and value >= version.value

    def compare_version(self, version: Version) -> Order:
        """LiteCore `VersionVector::compareTo(Version)`: never CONFLICTING."""
        if self.current == version:
            return Order.SAME
        return Order.NEWER if self.dominates(version) else Order.OLDER

    def compare(self, other: VersionVector) -> Order:
        """LiteCore `VersionVector::compareTo(VersionVector)`: by each side's current version."""
        mine = self.compare_version(other.current)
        if mine is Order.SAME:
            return Order.SAME
        theirs = other.compare_version(self.current)
        if mine is theirs:
            return Order.CONFLICTING
        return mine

    def sources(self) -> dict[str, int]:
        """Newest value per source."""
        result: dict[str, int] = {}
        for version in (self.current, *self.merges, *self.previous):
            if version.value > result.get(version.source, -1):
                result[version.source] = version.value
        return result

    # New versions ----------------------------------------------------------------------------
    def with_new_version(self, version: Version) -> VersionVector:
        """`version` becomes current; every older entry of its source leaves, merges become history
        (LiteCore `VersionVector::_add`)."""
        rest = {s: value for s, value in self.sources().items() if s != version.source}
        return VersionVector(version, (), _newest_first(rest))


def _newest_first(values: dict[str, int]) -> tuple[Version, ...]:
    return tuple(sorted((Version(value, source) for source, value in values.items()),
                        key=lambda v: (-v.value, v.source)))


class HybridClock:
    """LiteCore's `HybridClock`: wall-clock nanoseconds with the low 16 bits as a counter, never going back."""

    def __init__(self, wall_ns: Callable[[], int] = time.time_ns) -> None:
        self._wall_ns = wall_ns
        self._last = 0

    def now(self) -> int:
        wall = self._wall_ns() & ~_COUNTER_BITS
        last_wall = self._last & ~_COUNTER_BITS
        if wall <= last_wall:
            self._last += 1
        else:
            self._last = wall
        return self._last

    def see(self, value: int) -> None:
        """A version from elsewhere: later `now()` values exceed it."""
        if value > self._last:
            self._last = value


def new_local_version(vector: VersionVector | None, clock: HybridClock, source: str) -> VersionVector:
    """A local save (LiteCore `addNewVersion`): a fresh clock value for this database becomes current."""
    if vector is None:
        return VersionVector(Version(clock.now(), source))
    for value in vector.sources().values():
        clock.see(value)
    return vector.with_new_version(Version(clock.now(), source))


def merge(v1: VersionVector, v2: VersionVector, clock: HybridClock, source: str) -> VersionVector:
    """LiteCore `VersionVector::merge`, used when the resolved body differs from the winner's: a new
    version of this database, both CVs as merge versions, every other source at its newest value."""
    clock.see(v1.current.value)
    clock.see(v2.current.value)
    conflictors = sorted((v1.current, v2.current), key=lambda v: -v.value)
    if conflictors[0].source == conflictors[1].source:
        raise VersionError("merging conflicting vectors with the same current source")
    newest: dict[str, int] = {}
    for vector in (v1, v2):
        for s, value in vector.sources().items():
            if s not in (source, conflictors[0].source, conflictors[1].source):
                newest[s] = max(value, newest.get(s, 0))
    return VersionVector(Version(clock.now(), source), tuple(conflictors), _newest_first(newest))


def trivial_merge(winner: VersionVector, loser: VersionVector) -> VersionVector:
    """LiteCore `VersionVector::trivialMerge`, used when the winner's body is kept as it is: the winner's
    current version, every source at its newest value from either side; no new version."""
    newest = winner.sources()
    for s, value in loser.sources().items():
        newest[s] = max(value, newest.get(s, 0))
    if winner.merges and all(newest.get(v.source) == v.value for v in winner.merges
                             if v.source != winner.current.source) \
            and newest[winner.current.source] == winner.current.value:
        for v in winner.merges:
            if v.source != winner.current.source:
                newest.pop(v.source, None)
        newest.pop(winner.current.source, None)
        return VersionVector(winner.current, winner.merges, _newest_first(newest))
    cv = Version(newest.pop(winner.current.source), winner.current.source)
    return VersionVector(cv, (), _newest_first(newest))


# What Sync Gateway main decides (db/crud.go CheckProposedVersion, db/hybrid_logical_vector.go IsInConflict) --
class Proposal(Enum):
    SEND = 0
    EXISTS = 304
    CONFLICT = 409


def gateway_accepts_proposal(server: VersionVector | None, proposed: VersionVector,
                             previous: str) -> Proposal:
    """Sync Gateway's `CheckProposedVersion` for a vector `proposeChanges` row (HLV documents)."""
    if server is None:
        return Proposal.SEND
    if previous and not is_rev_tree_id(previous) and Version.parse(previous) == server.current:
        return Proposal.SEND
    if server.dominates(proposed.current):
        return Proposal.EXISTS
    if server.current.source == proposed.current.source and server.current.value < proposed.current.value:
        return Proposal.SEND
    if proposed.dominates(server.current):
        return Proposal.SEND
    return Proposal.CONFLICT


def gateway_conflict(server: VersionVector, incoming: VersionVector) -> str:
    """Sync Gateway's `IsInConflict` for a pushed `rev`: "no-conflict", "already-present" or "conflict"."""
    if server.current == incoming.current:
        return "already-present"
    if incoming.dominates(server.current):
        return "no-conflict"
    if server.dominates(incoming.current):
        return "already-present"
    if incoming.merges and server.merges and set(incoming.merges) == set(server.merges):
        return "no-conflict"
    return "conflict"


def local_wins(local: VersionVector, local_deleted: bool, remote: VersionVector, remote_deleted: bool) -> bool:
    """Couchbase Lite 4.x's default resolver: a deletion wins, then the newer current version's timestamp
    (`c4rev_getTimestamp`); on equal timestamps the local revision stays."""
    if local_deleted != remote_deleted:
        return local_deleted
    return local.current.value >= remote.current.value


def versions_text(versions: Iterable[Version]) -> str:
    return ",".join(str(v) for v in versions)
