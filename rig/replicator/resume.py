"""Where a pull resumes: LiteCore's `Checkpoint::validateWith` over the remote sequence (pure).

A device reads its local checkpoint, then the gateway's copy. LiteCore (Replicator.cc
`getRemoteCheckpoint` / `getCollections`, Checkpoint.cc `validateWith`):

- no local checkpoint (or one without a remote sequence): from 0, whatever the gateway holds;
- both the same: from there;
- they differ: from the *earlier* of the two. Couchbase Lite 3.3 (and 3.2, 4.0) compares only
  integer sequences and starts from 0 when either is not one (a compound sequence, or a
  missing remote checkpoint); 3.4 and 4.1 parse Sync Gateway's compound sequences
  (`ParsedSequenceID.hh`) and order them as Sync Gateway's `SequenceID.Before` does, and start
  from 0 only when one does not parse.

The usual difference: the gateway saved a `setCheckpoint` whose reply the device never saw
(a budget kill, a dropped connection), so the device's copy is one save behind. Resuming
from the device's copy re-pulls a few rows, not the whole feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ParsedSequence:
    """A Sync Gateway sequence: `seq`, `triggeredBy:seq`, `lowSeq:triggeredBy:seq` or `lowSeq::seq`."""

    seq: int
    triggered_by: int = 0
    low_seq: int = 0

    @classmethod
    def parse(cls, value: Any) -> ParsedSequence | None:
        """As LiteCore's RemoteSequence::toParsedSequenceID: an integer, or a string of 1 to 3 parts."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return cls(value) if value >= 0 else None
        if not isinstance(value, str) or not value or value.endswith(":"):
            return None
        parts = value.split(":")
        if len(parts) > 3:
            return None
        # Only the middle part of `lowSeq::seq` may be empty.
        if not all(_is_decimal(p) or (len(parts) == 3 and i == 1 and p == "") for i, p in enumerate(parts)):
            return None
        numbers = [int(p) if p else 0 for p in parts]
        if len(numbers) == 1:
            return cls(numbers[0])
        if len(numbers) == 2:
            return cls(numbers[1], triggered_by=numbers[0])
        return cls(numbers[2], triggered_by=numbers[1], low_seq=numbers[0])

    def before(self, other: ParsedSequence) -> bool:
        """Strictly earlier in the feed (Sync Gateway's SequenceID.Before, LiteCore's ParsedSequenceID::before)."""
        a, b = self, other
        if a.low_seq:
            if b.low_seq:
                if a.low_seq != b.low_seq:
                    return a.low_seq < b.low_seq
                return ParsedSequence(a.seq, a.triggered_by).before(ParsedSequence(b.seq, b.triggered_by))
            return a.low_seq < (b.triggered_by or b.seq)
        if a.triggered_by:
            if b.low_seq:
                return a.triggered_by <= b.low_seq
            if b.triggered_by:
                if a.triggered_by != b.triggered_by:
                    return a.triggered_by < b.triggered_by
                return a.seq < b.seq
            return a.triggered_by <= b.seq
        if b.low_seq:
            return a.seq <= b.low_seq
        if b.triggered_by:
            return a.seq < b.triggered_by
        return a.seq < b.seq


def _is_decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def resume_point(local: dict[str, Any] | None, remote: dict[str, Any], *, orders_compound: bool) -> Any:
    """The `since` of subChanges: the device's checkpoint checked against the gateway's.

    `local` is the device's checkpoint (None when it has none), `remote` the gateway's
    (`{}` when it has none); `orders_compound`: the release parses compound sequences (3.4+).
    """
    if local is None:
        return 0
    mine = local.get("remote")
    if mine is None or mine == "":
        return 0  # LiteCore: an empty local remote sequence stays empty
    theirs = remote.get("remote")
    if mine == theirs:
        return mine
    if orders_compound:
        ours_parsed, theirs_parsed = ParsedSequence.parse(mine), ParsedSequence.parse(theirs)
        if ours_parsed is None or theirs_parsed is None:
            return 0
        return theirs if theirs_parsed.before(ours_parsed) else mine
    if _is_integer(mine) and _is_integer(theirs):
        return min(mine, theirs)
    return 0
