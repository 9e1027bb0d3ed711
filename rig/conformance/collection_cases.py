"""Conformance cases over named collections: scripted histories over the `shop` spec (gateway_config/routing/shop.toml).

`shop` keeps orders in `shop.orders` and notes and shares in `shop.notes`; ann is a clerk (clerks
see every order), a share gives its `with` user the owner's channel in notes only. As the cases of
`rig.conformance.cases`, a case drives the harness and asserts only that the spec's own
expectation is what it claims to exercise; the oracle's findings judge the gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rig.conformance.cases import CaseError, expect
from rig.conformance.harness import Harness

ORDERS, NOTES = "shop.orders", "shop.notes"


def order(owner: str, item: str = "tea") -> dict[str, Any]:
    return {"type": "order", "owner": owner, "item": item}


def note(owner: str, text: str = "") -> dict[str, Any]:
    return {"type": "note", "owner": owner, "text": text}


def share(owner: str, with_user: str) -> dict[str, Any]:
    return {"type": "share", "owner": owner, "with": with_user}


def case_grants_hold_in_their_collection(h: Harness) -> None:
    """bob shares his notes with carol: carol gets bob's notes, never bob's orders (same channel name)."""
    h.write("o-bob", order("bob"), user="bob", collection=ORDERS)
    h.write("n-bob", note("bob"), user="bob", collection=NOTES)
    carol = h.device("carol")
    h.sync(carol)
    expect(h, "carol", lacks={f"{NOTES}/n-bob", f"{ORDERS}/o-bob"})
    h.write("s-bob-carol", share("bob", "carol"), user="bob", collection=NOTES)
    h.sync(carol)
    expect(h, "carol", has={f"{NOTES}/n-bob"}, lacks={f"{ORDERS}/o-bob"})


def case_types_and_write_rules_per_collection(h: Harness) -> None:
    """An order written to notes, a forged note, a changed order owner: refused, each by its rule."""
    h.write("o-ann", order("ann"), user="ann", collection=ORDERS)
    h.write("o-in-notes", order("ann"), user="ann", collection=NOTES)
    h.write("n-forged", note("bob"), user="ann", collection=NOTES)
    h.write("o-ann", order("bob"), user="ann", collection=ORDERS)
    rules = h.expected_rejections()
    if rules != ["type", "note.require_user({owner})", "order.immutable(owner)"]:
        raise CaseError(f"case expectation: rejections {rules}")
    h.sync(h.device("ann"))


def case_devices_push_and_pull_both_collections(h: Harness) -> None:
    """ann's phone pushes an order and a note; her tablet pulls both, each into its collection; bob sees
    neither (no clerk, no share) and a clerk role lost takes ann's view of bob's orders away."""
    phone = h.device("ann")
    phone.store.collection(ORDERS).put("o-ann", order("ann"))
    phone.store.collection(NOTES).put("n-ann", note("ann"))
    h.write("o-bob", order("bob"), user="bob", collection=ORDERS)
    h.sync(phone)
    tablet = h.device("ann")
    h.sync(tablet)
    expect(h, "ann", has={f"{ORDERS}/o-ann", f"{NOTES}/n-ann", f"{ORDERS}/o-bob"})
    h.sync(h.device("bob"))
    expect(h, "bob", has={f"{ORDERS}/o-bob"}, lacks={f"{ORDERS}/o-ann", f"{NOTES}/n-ann"})
    h.put_user("ann", ["user.ann"], [])  # no longer a clerk
    h.sync(tablet)
    expect(h, "ann", has={f"{ORDERS}/o-ann"}, lacks={f"{ORDERS}/o-bob"})


def case_anonymous_client(h: Harness) -> None:
    """A client without credentials reads no collection: not an order, not a note (the spec names no guest)."""
    h.write("o-ann", order("ann"), user="ann", collection=ORDERS)
    h.write("n-ann", note("ann"), user="ann", collection=NOTES)
    h.anonymous_sync()
    expect(h, "GUEST", lacks={f"{ORDERS}/o-ann", f"{NOTES}/n-ann"})
    expect(h, "ann", has={f"{ORDERS}/o-ann", f"{NOTES}/n-ann"})


Case = Callable[[Harness], None]

COLLECTION_CASES: dict[str, Case] = {
    name.removeprefix("case_"): func for name, func in sorted(globals().items())
    if name.startswith("case_") and callable(func)
}
