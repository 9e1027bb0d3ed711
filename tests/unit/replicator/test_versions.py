"""Version vectors: text forms as Sync Gateway parses them, comparison and merges as LiteCore 4.1 does them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.replicator.versions import (
    HybridClock,
    Order,
    Proposal,
    Version,
    VersionError,
    VersionVector,
    gateway_accepts_proposal,
    gateway_conflict,
    is_rev_tree_id,
    local_wins,
    merge,
    new_local_version,
    new_source_id,
    trivial_merge,
)

A, B, S = "AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB", "SGSGSGSGSGSGSGSGSGSGSG"


def v(value: int, source: str) -> Version:
    return Version(value, source)


def test_a_source_id_is_22_base64_characters_of_16_bytes() -> None:
    source = new_source_id(bytes(range(16)))
    assert len(source) == 22
    assert source == "AAECAwQFBgcICQoLDA0ODw"
    with pytest.raises(ValueError, match="16 bytes"):
        new_source_id(b"short")


def test_versions_are_lowercase_hex_at_source() -> None:
    assert str(v(0x18EE53D6E53F0000, A)) == f"18ee53d6e53f0000@{A}"
    assert Version.parse(f"18EE@{A}") == v(0x18EE, A)
    assert Version.parse(f" 1a@{A}") == v(0x1A, A)  # Sync Gateway strips one leading space
    for bad in ("1a", f"zz@{A}", "1a@", f"-1@{A}"):
        with pytest.raises(VersionError):
            Version.parse(bad)


@pytest.mark.parametrize(("text", "cv", "mv", "pv"), [
    (f"1@{A}", v(1, A), (), ()),
    (f"5@{A};3@{B},2@{S}", v(5, A), (), (v(3, B), v(2, S))),
    (f"9@{A},5@{A},7@{B};2@{S}", v(9, A), (v(5, A), v(7, B)), (v(2, S),)),
    (f"9@{A},5@{B},7@{S};", v(9, A), (v(5, B), v(7, S)), ()),
    (f"9@{A},5@{B},7@{S}", v(9, A), (v(5, B), v(7, S)), ()),
    (f"5@{A};3@{B},2-abc,1-def", v(5, A), (), (v(3, B),)),  # rev-tree IDs in PV: legacy history, dropped
])
def test_vector_text_parses_as_sync_gateway_does(text: str, cv: Version, mv: tuple[Version, ...],
                                                  pv: tuple[Version, ...]) -> None:
    vector = VersionVector.parse(text)
    assert (vector.current, vector.merges, vector.previous) == (cv, mv, pv)


@pytest.mark.parametrize("text", ["", f"1@{A};2@{B};3@{S}", f"1@{A},1-abc", f"5@{A};3@{B},4@{B}",
                                  f"5@{A},3@{B};4@{B}", f"5@{A},5@{A}"])
def test_malformed_vectors_are_refused(text: str) -> None:
    with pytest.raises(VersionError):
        VersionVector.parse(text)


def test_rev_history_splits_as_get_hlv_from_rev_message() -> None:
    assert VersionVector.from_rev(f"5@{A}", "") == VersionVector(v(5, A))
    assert VersionVector.from_rev(f"5@{A}", f"3@{B}") == VersionVector(v(5, A), (), (v(3, B),))
    assert VersionVector.from_rev(f"9@{A}", f"5@{B},7@{S};") == VersionVector(v(9, A), (v(5, B), v(7, S)))


sources = st.sampled_from([A, B, S, "CCCCCCCCCCCCCCCCCCCCCC"])


def _vector(current: Version, others: dict[str, int]) -> VersionVector:
    previous = sorted(((s, value) for s, value in others.items() if s != current.source), key=lambda x: (-x[1], x[0]))
    return VersionVector(current, (), tuple(Version(value, s) for s, value in previous))


vectors = st.builds(_vector, st.builds(Version, st.integers(1, 2**63), sources),
                    st.dictionaries(sources, st.integers(1, 2**63), max_size=3))


@given(vectors)
def test_text_and_history_round_trip(vector: VersionVector) -> None:
    assert VersionVector.parse(vector.text) == vector
    assert VersionVector.from_rev(str(vector.current), vector.history) == vector


@given(vectors, vectors)
def test_comparison_is_antisymmetric(one: VersionVector, two: VersionVector) -> None:
    forward, backward = one.compare(two), two.compare(one)
    mirror = {Order.SAME: Order.SAME, Order.OLDER: Order.NEWER, Order.NEWER: Order.OLDER,
              Order.CONFLICTING: Order.CONFLICTING}
    assert backward is mirror[forward]


def test_compare_by_current_versions() -> None:
    base = VersionVector(v(5, S))
    mine = base.with_new_version(v(9, A))
    theirs = base.with_new_version(v(8, B))
    assert mine.compare(base) is Order.NEWER
    assert base.compare(mine) is Order.OLDER
    assert mine.compare(mine) is Order.SAME
    assert mine.compare(theirs) is Order.CONFLICTING
    assert mine.previous == (v(5, S),)


def test_a_new_local_version_moves_the_current_one_to_history_and_never_goes_back() -> None:
    clock = HybridClock(lambda: 0x10000)
    first = new_local_version(None, clock, A)
    assert first == VersionVector(v(0x10000, A))
    pulled = first.with_new_version(v(0x50000, S))  # another source wrote later (clock ahead of ours)
    second = new_local_version(pulled, clock, A)
    assert second.current.source == A and second.current.value > 0x50000
    assert second.previous == (v(0x50000, S),)


def test_the_hybrid_clock_keeps_wall_time_in_the_high_bits_and_counts_in_the_low_16() -> None:
    walls = iter([0x123456789, 0x123456789, 0x123400000])
    clock = HybridClock(lambda: next(walls))
    assert clock.now() == 0x123450000
    assert clock.now() == 0x123450001
    assert clock.now() == 0x123450002


def test_merge_makes_a_new_version_with_both_conflicting_versions_as_merges() -> None:
    clock = HybridClock(lambda: 0)
    remote = VersionVector(v(700, B), (), (v(100, S), v(50, A)))
    local = VersionVector(v(600, A), (), (v(200, S),))
    merged = merge(remote, local, clock, A)
    assert merged.current.source == A and merged.current.value > 700
    assert merged.merges == (v(700, B), v(600, A))
    assert merged.previous == (v(200, S),)
    assert merged.text == f"{merged.current},2bc@{B},258@{A};c8@{S}"
    assert merged.compare(remote) is Order.NEWER and merged.compare(local) is Order.NEWER


def test_trivial_merge_keeps_the_winner_and_every_source_at_its_newest() -> None:
    remote = VersionVector(v(700, B), (), (v(100, S),))
    local = VersionVector(v(600, A), (), (v(200, S),))
    resolved = trivial_merge(remote, local)
    assert resolved == VersionVector(v(700, B), (), (v(600, A), v(200, S)))
    assert resolved.compare(remote) is Order.SAME  # LiteCore: unintuitive but considered correct


def test_default_resolver_deletion_then_newest_timestamp_then_local() -> None:
    old, new = VersionVector(v(1, A)), VersionVector(v(2, B))
    assert local_wins(new, False, old, False)
    assert not local_wins(old, False, new, False)
    assert local_wins(old, True, new, False)
    assert not local_wins(new, False, old, True)
    assert local_wins(VersionVector(v(2, A)), False, new, False)


def test_gateway_decisions_follow_check_proposed_version_and_is_in_conflict() -> None:
    server = VersionVector(v(500, S), (), (v(100, A),))
    ours = server.with_new_version(v(900, A))
    assert gateway_accepts_proposal(None, ours, "") is Proposal.SEND
    assert gateway_accepts_proposal(server, ours, str(server.current)) is Proposal.SEND
    assert gateway_accepts_proposal(server, VersionVector(v(100, A)), "") is Proposal.EXISTS
    assert gateway_accepts_proposal(server, ours, "") is Proposal.SEND  # our vector contains the server's CV
    stale = VersionVector(v(900, A), (), (v(400, S),))
    assert gateway_accepts_proposal(server, stale, f"400@{S}") is Proposal.CONFLICT
    assert gateway_conflict(server, ours) == "no-conflict"
    assert gateway_conflict(server, server) == "already-present"
    assert gateway_conflict(server, stale) == "conflict"


def test_rev_tree_ids_are_told_from_versions() -> None:
    assert is_rev_tree_id("3-abc")
    assert not is_rev_tree_id(f"3@{A}")
    assert not is_rev_tree_id("0-abc")
    assert not is_rev_tree_id("x-abc")
