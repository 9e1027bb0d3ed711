"""`rig device sync`: one virtual device against any Sync Gateway (filled in with the replicator)."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    commands.add_parser("device", help="run one virtual Couchbase Lite device")
