"""The spec-less check against the gateway's view, over named collections: documents `scope.name/ID`,
channels `scope.name:channel`, a user's `*` holding in its collection only."""

from __future__ import annotations

from rig.oracle import DocView, GatewayView, Held, Kind, SyncSnapshot, check

NOTES, ORDERS = "shop.notes", "shop.orders"


def _view(channels: set[str]) -> GatewayView:
    return GatewayView({f"{NOTES}/n1": DocView("1-a", False, frozenset({f"{NOTES}:user.ann"})),
                        f"{ORDERS}/o1": DocView("1-b", False, frozenset({f"{ORDERS}:user.ann"}))},
                       frozenset(channels))


def test_delivery_as_the_gateway_routes_it_per_collection() -> None:
    ann = SyncSnapshot("ann-1", "ann", "caught_up", {f"{NOTES}/n1": Held("1-a"), f"{ORDERS}/o1": Held("1-b")},
                       _view({f"{NOTES}:user.ann", f"{ORDERS}:user.ann"}))
    assert check(None, [ann]) == []


def test_a_channel_of_another_collection_gives_nothing() -> None:
    """bob holds ann's notes channel in orders only: n1 in his store is a leak, o1 missing is a miss."""
    bob = SyncSnapshot("bob-1", "bob", "caught_up", {f"{NOTES}/n1": Held("1-a")}, _view({f"{ORDERS}:user.ann"}))
    found = {(f.kind, f.doc) for f in check(None, [bob])}
    assert found == {(Kind.LEAK, f"{NOTES}/n1"), (Kind.MISS, f"{ORDERS}/o1")}


def test_star_holds_in_its_collection_only() -> None:
    clerk = SyncSnapshot("c-1", "clerk", "caught_up", {f"{ORDERS}/o1": Held("1-b")}, _view({f"{ORDERS}:*"}))
    assert check(None, [clerk]) == []
    leaky = SyncSnapshot("c-1", "clerk", "caught_up", {f"{ORDERS}/o1": Held("1-b"), f"{NOTES}/n1": Held("1-a")},
                         _view({f"{ORDERS}:*"}))
    assert [(f.kind, f.doc) for f in check(None, [leaky])] == [(Kind.LEAK, f"{NOTES}/n1")]
