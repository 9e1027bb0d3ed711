"""How a routing load run names its users and documents (shared by the workload and its parts)."""

from __future__ import annotations

from rig._collections import split


def user_name(index: int) -> str:
    return f"user-{index:04d}"


def type_of(doc: str) -> str:
    """The type a workload document was made as: its ID's first part (after any collection)."""
    return split(doc)[1].split(".", 1)[0]
