"""A user's record on the gateway against the grants of its documents (rig.gateway.principals), pure."""

from __future__ import annotations

from typing import Any

from rig.gateway.principals import KNOWN_DEFECT, document_grants, drift, summary_text

# What the failing CI run's gateway held for user-0003 after the admin deleted two of its guest grants:
# its record kept team.3 (a recomputation raced the second deletion), no document granted it any more.
USER = {"name": "user-0003", "admin_channels": ["user.user-0003"], "roles": [],
        "all_channels": ["!", "team.0", "team.1", "team.3", "user.user-0003"]}
RAW = {
    "membership.user-0003.0": {"_sync": {"access": {"user-0003": {"team.0": 27}}}},
    "membership.guest.d15": {"_xattrs": {"_sync": {"access": {"user-0003": {"team.1": 49}}}}},
    "membership.guest.d31": {"_sync": {"access": {}}},  # deleted: a tombstone grants nothing
    "membership.guest.d46": {"_sync": {}},
    "promotion.x": {"_sync": {"access": {"role:lead": {"leads": 3}}}},
}


def _grants(user: str = "user-0003") -> dict[str, list[str]]:
    return {channel: sorted(docs) for channel, docs in document_grants(RAW).get(user, {}).items()}


def test_a_record_holding_a_channel_no_document_grants_is_drift() -> None:
    found = drift(USER, {}, _grants())
    assert found is not None
    assert found.user == "user-0003" and found.extra == ("team.3",) and found.missing == ()
    assert found.text() == "user-0003 holds team.3, which no document grants"


def test_the_same_record_without_the_stale_channel_agrees() -> None:
    agreeing = {**USER, "all_channels": ["!", "team.0", "team.1", "user.user-0003"]}
    assert drift(agreeing, {}, _grants()) is None


def test_a_grant_the_record_lacks_is_drift_naming_the_document() -> None:
    lacking = {**USER, "all_channels": ["!", "team.0", "user.user-0003"]}
    found = drift(lacking, {}, _grants())
    assert found is not None and found.extra == () and found.missing == ("team.1",)
    assert found.granted_by == {"team.1": ("membership.guest.d15",)}
    assert "lacks what documents grant (team.1 by membership.guest.d15)" in found.text()


def test_admin_channels_roles_and_the_public_channel_are_no_drift() -> None:
    user = {"name": "ann", "admin_channels": ["user.ann"], "roles": ["lead", "gone"],
            "all_channels": ["!", "leads", "team.red", "user.ann"]}
    roles: dict[str, dict[str, Any]] = {"lead": {"name": "lead", "all_channels": ["!", "leads"]}}
    assert drift(user, roles, {"team.red": ["m1"]}) is None
    assert drift(user, {}, {"team.red": ["m1"]}) is not None  # without the role, `leads` is unexplained
    assert document_grants(RAW).get("role:lead") is None  # a role's grants live in the role's record


def test_named_collections_are_judged_in_their_own_part_of_the_record() -> None:
    user = {"name": "ann", "all_channels": ["!"], "roles": [],
            "collection_access": {"shop": {"orders": {"admin_channels": [], "all_channels": ["!", "store.1"]}}}}
    assert drift(user, {}, {}, "shop.orders") is not None
    assert drift(user, {}, {"store.1": ["o1"]}, "shop.orders") is None
    assert drift(user, {}, {}) is None  # the default collection of the same record agrees
    found = drift(user, {}, {}, "shop.orders")
    assert found is not None and found.text() == "ann holds store.1 in shop.orders, which no document grants"


def test_the_summary_names_the_known_defect_only_when_a_record_disagrees() -> None:
    found = drift(USER, {}, _grants())
    assert found is not None
    text = summary_text({"users": 20, "documents": 36, "drift": [found.as_dict()], "drift_text": [found.text()]})
    assert "1 records disagree" in text and KNOWN_DEFECT in text and "user-0003 holds team.3" in text
    clean = summary_text({"users": 20, "documents": 36, "drift": [], "drift_text": []})
    assert clean.endswith("every record agrees") and KNOWN_DEFECT not in clean
    assert "not checked" in summary_text({"users": 20, "documents": 0, "drift": [], "error": "HTTP 500"})
