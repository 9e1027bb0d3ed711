"""Access-control routing conformance: the case suite, its harness and the runner behind `rig conform`."""

from __future__ import annotations

from pathlib import Path

from rig._paths import project_root
from rig.conformance.cases import CASES as _SCRIPTED
from rig.conformance.cases import Case, CaseError
from rig.conformance.collection_cases import COLLECTION_CASES
from rig.conformance.harness import Harness
from rig.conformance.moves import CASES as _MOVES
from rig.gateway import AdminClient, CollectionSpec, DatabaseSpec
from rig.oracle.render import render_collections
from rig.oracle.routing import DEFAULT_COLLECTION, RoutingSpec

CASES: dict[str, Case] = dict(sorted({**_SCRIPTED, **_MOVES}.items()))
"""Every case of the suite by name: the scripted ones and the quick channel moves."""

__all__ = ["CASES", "COLLECTION_CASES", "Case", "CaseError", "Harness", "broken_sync_functions", "cases_for",
           "create_database", "default_spec_path", "render_sync_functions"]


def default_spec_path() -> Path:
    return project_root() / "gateway_config" / "routing" / "teams.toml"


def broken_sync_functions() -> dict[str, Path]:
    """The deliberately broken sync functions shipped with the suite, by name."""
    folder = project_root() / "gateway_config" / "sync" / "broken"
    return {path.stem: path for path in sorted(folder.glob("*.js"))}


def cases_for(spec: RoutingSpec) -> dict[str, Case]:
    """The cases a spec runs: the collection cases (written for `shop`) for a spec with named collections."""
    return CASES if spec.collections == (DEFAULT_COLLECTION,) else COLLECTION_CASES


def render_sync_functions(spec: RoutingSpec, folder: Path) -> Path:
    """The spec's function as `folder/<name>.js`; with named collections, `folder/<scope.name>.js` each and
    the folder is returned (what `--sync-function` takes for such a spec)."""
    folder.mkdir(parents=True, exist_ok=True)
    functions = render_collections(spec)
    if set(functions) == {DEFAULT_COLLECTION}:
        path = folder / f"{spec.name}.js"
        path.write_text(functions[DEFAULT_COLLECTION])
        return path
    for collection, source in functions.items():
        (folder / f"{collection}.js").write_text(source)
    return folder


def create_database(admin: AdminClient, name: str, sync_function: Path, spec: RoutingSpec | None = None) -> None:
    """A fresh database from the repo's template with `sync_function` (users and roles come from the case).

    For a spec with named collections `sync_function` is a folder with `<scope.name>.js` per collection
    (the gateway must run persistent config)."""
    if spec is None or spec.collections == (DEFAULT_COLLECTION,):
        admin.create_database_from_spec(DatabaseSpec(name, sync_function=sync_function))
        return
    collections = tuple(CollectionSpec(c, sync_function / f"{c}.js") for c in spec.collections)
    admin.create_database_from_spec(DatabaseSpec(name, collections=collections))
