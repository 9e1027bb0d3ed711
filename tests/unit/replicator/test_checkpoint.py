"""The pull checkpoint never passes an unfinished row; IDs are stable and distinct."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rig.replicator.checkpoint import SequenceTracker, checkpoint_id


def test_checkpoint_stops_before_the_first_unfinished_row() -> None:
    tracker = SequenceTracker(since=10)
    tracker.add(11, "a", "1-a", requested=True)
    tracker.add(12, "b", "1-b", requested=False)
    tracker.add(13, "c", "1-c", requested=True)
    assert tracker.checkpoint == 10
    assert tracker.finish("c", "1-c")
    assert tracker.checkpoint == 10
    assert tracker.finish("a", "1-a")
    assert tracker.checkpoint == 13
    assert tracker.outstanding == 0
    assert not tracker.finish("a", "1-a")


def test_compound_sequences_are_kept_verbatim() -> None:
    tracker = SequenceTracker()
    tracker.add("12:40", "a", "1-a", requested=False)
    assert tracker.checkpoint == "12:40"


@given(st.lists(st.booleans(), min_size=1, max_size=50), st.randoms())
def test_checkpoint_is_the_longest_finished_prefix(requested: list[bool], rnd: object) -> None:
    tracker = SequenceTracker(0)
    for seq, want in enumerate(requested, start=1):
        tracker.add(seq, f"d{seq}", "1-x", requested=want)
    waiting = [seq for seq, want in enumerate(requested, start=1) if want]
    rnd.shuffle(waiting)  # type: ignore[attr-defined]
    finished: set[int] = set()
    for seq in waiting:
        tracker.finish(f"d{seq}", "1-x")
        finished.add(seq)
        expected = 0
        for s, want in enumerate(requested, start=1):
            if want and s not in finished:
                break
            expected = s
        assert tracker.checkpoint == expected


def test_checkpoint_ids_are_stable_per_device_remote_and_channels() -> None:
    a = checkpoint_id("dev-1", "ws://h/db", ("x",))
    assert a == checkpoint_id("dev-1", "ws://h/db", ("x",))
    assert a.startswith("cp-")
    assert len({a, checkpoint_id("dev-2", "ws://h/db", ("x",)), checkpoint_id("dev-1", "ws://h/other", ("x",)),
                checkpoint_id("dev-1", "ws://h/db", ())}) == 4
