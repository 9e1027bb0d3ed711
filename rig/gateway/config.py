"""Render Sync Gateway legacy configs from `gateway_config/`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig._errors import ConfigError
from rig._paths import project_root
from rig.gateway.named import database_settings_from_env, overlay


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """A named collection `scope.name` of a database, with its own sync function."""

    keyspace: str
    """`scope.name`, as Couchbase Lite names it in `getCollections` and the REST API in `/db.scope.name/`."""
    sync_function: Path | None = None
    """A `.js` file; Sync Gateway's default for a named collection (`channel(doc.channels)`) when None."""

    def __post_init__(self) -> None:
        scope, _, name = self.keyspace.partition(".")
        if not scope or not name or "." in name:
            raise ConfigError(f"collection {self.keyspace!r}: expected SCOPE.NAME (one dot)")
        if scope == "_default":
            # Sync Gateway takes one scope per database; the default one is configured by the
            # database-level sync function, not as a named collection.
            raise ConfigError(f"collection {self.keyspace!r}: named collections live in a named scope")

    @property
    def scope(self) -> str:
        return self.keyspace.partition(".")[0]

    @property
    def name(self) -> str:
        return self.keyspace.partition(".")[2]


@dataclass(frozen=True, slots=True)
class DatabaseSpec:
    """One database to create on the gateway."""

    name: str = "rig"
    sync_function: Path | None = None
    """A `.js` file; `gateway_config/sync/default.js` when None. Unused when `collections` are given."""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys merged over the template (e.g. `event_handlers`)."""
    collections: tuple[CollectionSpec, ...] = ()
    """Named collections, all in one scope (Sync Gateway allows one named scope per database). With
    any, the database has no default collection, no database-level sync function, and uses GSI-style
    indexing (`use_views: false`; rosmar needs no index service)."""

    def __post_init__(self) -> None:
        scopes = {c.scope for c in self.collections}
        if len(scopes) > 1:
            raise ConfigError(f"database {self.name}: collections in {len(scopes)} scopes "
                              f"({', '.join(sorted(scopes))}); Sync Gateway takes one named scope per database")
        keyspaces = [c.keyspace for c in self.collections]
        if len(set(keyspaces)) != len(keyspaces):
            raise ConfigError(f"database {self.name}: duplicate collections {keyspaces}")


@dataclass(frozen=True, slots=True)
class Interfaces:
    public: str
    admin: str
    metrics: str


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return {k: v for k, v in data.items() if not k.startswith("_comment")}


def storage_url(data_dir: Path | None) -> str:
    """rosmar in memory by default, or SQLite files under `data_dir`."""
    if data_dir is None:
        return "rosmar:/?mode=memory"
    return f"rosmar://{data_dir.resolve()}"


def database_config(spec: DatabaseSpec, *, server: str, config_root: Path | None = None,
                    sync_dir: Path | None = None) -> dict[str, Any]:
    """The database section for `spec`: template, storage, sync function, users.

    Settings from a `--gateway NAME+config:FILE` (rig.gateway.named) are laid over the template.
    With `sync_dir`, the sync function is copied there and referenced by path
    (Sync Gateway loads it from the file); otherwise it is inlined.
    """
    root = config_root or project_root() / "gateway_config"
    db = overlay(_load_json(root / "database.json"), database_settings_from_env())
    sync_path = spec.sync_function or root / "sync" / "default.js"
    if not sync_path.is_file():
        raise ConfigError(f"sync function file not found: {sync_path}")
    db.update(spec.extra)
    db["server"] = server
    db["bucket"] = spec.name
    source = sync_path.read_text()
    if spec.collections:
        # Inline, even with `sync_dir`: Sync Gateway loads only the database-level function from a path.
        db["use_views"] = False
        db["scopes"] = collection_scopes(spec.collections)
    elif sync_dir is None:
        db["sync"] = source
    else:
        # By path, because Sync Gateway rewrites back-quoted strings anywhere in a
        # config file, which would corrupt a sync function that contains one.
        sync_dir.mkdir(parents=True, exist_ok=True)
        copy = sync_dir / f"sync-{spec.name}.js"
        copy.write_text(source)
        db["sync"] = str(copy.resolve())
    users = dict(db.get("users", {}))
    users.update(spec.users)
    db["users"] = users
    if spec.roles:
        db["roles"] = dict(spec.roles)
    return db


def collection_scopes(collections: tuple[CollectionSpec, ...]) -> dict[str, Any]:
    """The `scopes` section: `{scope: {"collections": {name: {"sync": source}}}}`."""
    scopes: dict[str, Any] = {}
    for coll in collections:
        entry: dict[str, Any] = {}
        if coll.sync_function is not None:
            if not coll.sync_function.is_file():
                raise ConfigError(f"collection {coll.keyspace}: sync function file not found: {coll.sync_function}")
            entry["sync"] = coll.sync_function.read_text()
        scopes.setdefault(coll.scope, {"collections": {}})["collections"][coll.name] = entry
    return scopes


def render(databases: list[DatabaseSpec], interfaces: Interfaces, *, data_dir: Path | None,
           sync_dir: Path | None = None, config_root: Path | None = None,
           log_level: str | None = None) -> dict[str, Any]:
    """The complete legacy config for one gateway process."""
    root = config_root or project_root() / "gateway_config"
    config = _load_json(root / "gateway.json")
    config["interface"] = interfaces.public
    config["adminInterface"] = interfaces.admin
    config["metricsInterface"] = interfaces.metrics
    if log_level:
        config.setdefault("logging", {}).setdefault("console", {})["log_level"] = log_level
    server = storage_url(data_dir)
    names = [db.name for db in databases]
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate database names: {names}")
    config["databases"] = {db.name: database_config(db, server=server, config_root=root, sync_dir=sync_dir)
                           for db in databases}
    return config


def render_startup(interfaces: Interfaces, *, data_dir: Path | None, log_level: str | None = None) -> dict[str, Any]:
    """A persistent-config startup file: bootstrap on rosmar, no databases (they are created over REST).

    Sync Gateway takes scopes and named collections only in persistent config ("scopes are not
    allowed with legacy config"); rosmar serves as its bootstrap store, in memory or on disk.
    """
    config: dict[str, Any] = {
        "bootstrap": {"server": storage_url(data_dir), "use_tls_server": False},
        "api": {"public_interface": interfaces.public, "admin_interface": interfaces.admin,
                "metrics_interface": interfaces.metrics, "admin_interface_authentication": False,
                "metrics_interface_authentication": False},
    }
    if log_level:
        config["logging"] = {"console": {"log_level": log_level}}
    return config

