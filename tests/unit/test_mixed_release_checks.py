"""The run checks in a mixed fleet: a 4.1 device's revisions are versions (`<hex>@<source>`), compared
with the gateway's versions; a 3.3/3.4 device's are rev-tree IDs, compared with rev-tree IDs."""

from __future__ import annotations

import pytest

from rig.device.fleet import stale_copies
from rig.gateway.vectors import cas_hex, current_version, raw_vector, stored_vector
from rig.oracle.acknowledged import AckedWrite, RevTree, check_acknowledged

DEVICE_SRC = "/EvBeG1pRqKq0h3nT9cXYw"
GATEWAY_SRC = "Zm9vYmFyYmF6cXV4MTIzNA"
NOW = 0x18EE548F8D580000


def _le(value: int, strip: bool = False) -> str:
    """`value` as Sync Gateway stores it: little-endian hex (pv/mv deltas with the high zero digits stripped)."""
    text = value.to_bytes(8, "little").hex()
    return "0x" + (text.rstrip("0") or "0") if strip else "0x" + text


# Sync Gateway's `_vv` ---------------------------------------------------------------------------


def test_cas_hex_reads_little_endian_with_or_without_stripped_high_zeros() -> None:
    assert cas_hex(_le(NOW)) == NOW
    assert cas_hex("0x0000588d8f54ee18") == NOW
    assert cas_hex(_le(0xA0, strip=True)) == 0xA0  # "0xa": the stripped nibble is restored
    assert cas_hex(_le(0x1234, strip=True)) == 0x1234
    with pytest.raises(ValueError, match="little-endian CAS hex"):
        cas_hex("0x")
    with pytest.raises(ValueError, match="little-endian CAS hex"):
        cas_hex("0x" + "1" * 17)


def test_stored_vector_adds_up_the_deltas_of_previous_and_merge_versions() -> None:
    older, oldest = NOW - 5000, NOW - 9000
    vv = {"src": DEVICE_SRC, "ver": _le(NOW), "cvCas": _le(NOW),
          "pv": [f"{_le(oldest, strip=True)}@A", f"{_le(older - oldest, strip=True)}@{GATEWAY_SRC}"]}
    assert stored_vector(vv) == {DEVICE_SRC: NOW, "A": oldest, GATEWAY_SRC: older}
    assert current_version(vv) == f"{NOW:x}@{DEVICE_SRC}"
    assert raw_vector({"_xattrs": {"_vv": vv}}) is vv
    assert raw_vector({"_sync": {}}) is None


# The durability check ------------------------------------------------------------------------------


def _vector_tree(vector: dict[str, int]) -> RevTree:
    return RevTree(("1-a", "2-b"), (-1, 0), vector=vector)


def test_an_acknowledged_version_the_vector_dominates_is_present() -> None:
    tree = _vector_tree({DEVICE_SRC: NOW, GATEWAY_SRC: NOW - 100})
    acked = [AckedWrite("d41", "doc", f"{NOW:x}@{DEVICE_SRC}"),           # the current version
             AckedWrite("d41", "doc", f"{NOW - 7:x}@{DEVICE_SRC}"),       # an earlier edit of the same device
             AckedWrite("d41b", "doc", f"{NOW - 100:x}@{GATEWAY_SRC}"),   # in the previous versions
             AckedWrite("d33", "doc", "2-b")]                             # a 3.3 device's rev-tree ID
    report = check_acknowledged(acked, {"doc": tree})
    assert report.checked == 4 and report.lost == [] and report.duplicated == []


def test_an_acknowledged_version_missing_from_the_vector_is_lost() -> None:
    tree = _vector_tree({DEVICE_SRC: NOW})
    newer, unknown = f"{NOW + 1:x}@{DEVICE_SRC}", f"{NOW - 1:x}@OTHERSOURCE"
    report = check_acknowledged([AckedWrite("d", "doc", newer), AckedWrite("d", "doc", unknown),
                                 AckedWrite("d", "doc", "zz@" + DEVICE_SRC), AckedWrite("d", "gone", newer)],
                                {"doc": tree, "gone": None})
    assert report.lost == sorted([f"lost: doc {newer} acknowledged to d", f"lost: doc {unknown} acknowledged to d",
                                  f"lost: doc zz@{DEVICE_SRC} acknowledged to d",
                                  f"lost: gone {newer} acknowledged to d"])
    # a version is never looked for among rev-tree IDs, nor a rev-tree ID in the vector
    report = check_acknowledged([AckedWrite("d", "doc", "3-c")], {"doc": tree})
    assert report.lost == ["lost: doc 3-c acknowledged to d"]


def test_rev_tree_from_sync_keeps_the_stored_vector() -> None:
    vv = {"src": DEVICE_SRC, "ver": _le(NOW)}
    tree = RevTree.from_sync({"history": {"revs": ["1-a"], "parents": [-1]}}, stored_vector(vv))
    assert tree.holds(f"{NOW:x}@{DEVICE_SRC}") and tree.holds("1-a")
    assert not tree.holds(f"{NOW + 1:x}@{DEVICE_SRC}")


# The per-device final check -------------------------------------------------------------------------


def test_an_up_to_date_4_1_copy_is_not_stale() -> None:
    cv = f"{NOW:x}@{DEVICE_SRC}"
    asked: list[str] = []

    def gateway_cv(doc_id: str) -> str | None:
        asked.append(doc_id)
        return cv

    held = {"doc": cv, "old": "3-c"}
    assert stale_copies("d41", held, {"doc": "5-e", "old": "3-c"}, gateway_cv) == []
    assert asked == ["doc"]  # the rev-tree copy is compared with the rev-tree ID, not the version


def test_a_stale_4_1_copy_is_reported() -> None:
    old, cv = f"{NOW - 1:x}@{DEVICE_SRC}", f"{NOW:x}@{GATEWAY_SRC}"
    assert stale_copies("d41", {"doc": old}, {"doc": "5-e"}, lambda _d: cv) == \
        [f"stale: d41 has doc {old}, gateway {cv}"]
    assert stale_copies("d41", {"doc": old}, {"doc": "5-e"}, lambda _d: None) == \
        [f"stale: d41 has doc {old}, gateway None"]


def test_a_stale_rev_tree_copy_is_still_reported() -> None:
    assert stale_copies("d33", {"doc": "4-d"}, {"doc": "5-e"}, lambda _d: f"{NOW:x}@{GATEWAY_SRC}") == \
        ["stale: d33 has doc 4-d, gateway 5-e"]
