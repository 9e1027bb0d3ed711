"""Access-control routing conformance: the case suite, its harness and the runner behind `rig conform`."""

from __future__ import annotations

from pathlib import Path

from rig._paths import project_root
from rig.conformance.cases import CASES as _SCRIPTED
from rig.conformance.cases import Case, CaseError
from rig.conformance.harness import Harness
from rig.conformance.moves import CASES as _MOVES
from rig.gateway import AdminClient, DatabaseSpec

CASES: dict[str, Case] = dict(sorted({**_SCRIPTED, **_MOVES}.items()))
"""Every case of the suite by name: the scripted ones and the quick channel moves."""

__all__ = ["CASES", "Case", "CaseError", "Harness", "broken_sync_functions", "create_database", "default_spec_path"]


def default_spec_path() -> Path:
    return project_root() / "gateway_config" / "routing" / "teams.toml"


def broken_sync_functions() -> dict[str, Path]:
    """The deliberately broken sync functions shipped with the suite, by name."""
    folder = project_root() / "gateway_config" / "sync" / "broken"
    return {path.stem: path for path in sorted(folder.glob("*.js"))}


def create_database(admin: AdminClient, name: str, sync_function: Path) -> None:
    """A fresh database from the repo's template with `sync_function` (users and roles come from the case)."""
    admin.create_database_from_spec(DatabaseSpec(name, sync_function=sync_function))
