"""Scenario files: what a load run does (fleet, workload, duration), validated strictly."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from rig._errors import ConfigError, did_you_mean
from rig._paths import project_root
from rig.device.profile import FleetSpec, load_fleet
from rig.oracle.routing import DEFAULT_COLLECTION
from rig.oracle.routing import load as load_spec


@dataclass(frozen=True, slots=True)
class Workload:
    docs_per_user: int = 3
    """Documents seeded per user before the devices start."""
    doc_size_bytes: int = 1000
    attachment_share: float = 0.1
    """Share of seeded documents that carry an attachment (the seed app's profile photo)."""
    attachment_bytes: int = 20_000
    start_awake_fraction: float = 0.3
    """Share of devices that start in the foreground (the rest start asleep)."""


@dataclass(frozen=True, slots=True)
class Routing:
    """A workload drawn from a routing spec, judged by the oracle (see rig.oracle.workload)."""

    spec: Path
    user_channels: tuple[str, ...] = ("user.{user}",)
    """Static channels of every user: templates over {user} and {team}."""
    lead_roles: tuple[str, ...] | None = None
    """Roles of each team's first user (default: every role a write rule requires)."""
    bad_write_share: float = 0.05
    """Share of device writes that break a write rule on purpose (the gateway must refuse them)."""
    delete_share: float = 0.05
    """Share of a device's legitimate edits that delete one of its documents (a later edit recreates it)."""
    foreign_write_share: float = 0.05
    """Share of device edits that update, take over or delete another user's seeded document the device
    holds (the spec refuses each: another owner, an immutable field changed, a delete by a non-owner)."""
    grant_change_at: float = 0.5
    """When (a share of `duration_s` after the first device started) the admin updates half the guest
    grants seeded for team leads' devices (they must stay) and deletes the others (they must go);
    1 or more: never."""
    stranded_seed_share: float = 0.1
    """Share of seeded documents owned by their user and a second owner, in a team neither belongs to
    (an admin import of notes left behind in a team): both read them only through their user channels."""
    snapshot_every_s: float = 15.0
    """A device records what it holds at a checkpoint at most this often (real seconds)..."""
    max_snapshots: int = 3
    """... and at most this many times during the run (the final one comes on top)."""


@dataclass(frozen=True, slots=True)
class Links:
    """How devices reach the gateway during the load phase (the final check always goes direct)."""

    enabled: bool = False
    """Each device through a loopback proxy of the link class drawn from its profile's `[link]` mix.

    Off unless asked for: the proxies run in the load process and cost CPU there (about half as
    much again as the devices themselves in the demo), and devices on slow links sync slower."""
    cut_after_s: float | None = None
    """Cut every device connection this many real seconds after it opened (CutPlan): mid-replication drops."""
    cut_after_down_bytes: int | None = None
    """Cut every device connection once this many bytes went gateway to device."""
    cut_reset: bool = True
    """A cut is a TCP reset (ECONNRESET at the device), or False for a plain close (EOF)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: Path
    fleet: FleetSpec
    description: str = ""
    time_scale: float = 60.0
    duration_s: float = 60.0
    ramp_per_s: float = 50.0
    team_size: int = 5
    seed: int = 1
    database: str = "rig"
    workload: Workload = Workload()
    driver: str = "loop"
    """How a load process drives its devices' replications: "loop" (the default: every replication on
    one event loop per process, rig.device.loop) or "gevent" (a helper greenlet per replication); see
    docs/load-runs.md, "Driver". `rig run --driver` overrides it."""
    routing: Routing | None = None
    links: Links = Links()
    collections: tuple[str, ...] = ()
    """Named collections (`scope.name`, one scope) the devices replicate, all in one replication, and the
    workload writes into; () for the default collection. A routing scenario takes its spec's."""

    @property
    def device_count(self) -> int:
        return self.fleet.users * self.fleet.devices_per_user


_TOP = {"description": str, "fleet": str, "users": int, "devices_per_user": int, "time_scale": float,
        "duration_s": float, "ramp_per_s": float, "team_size": int, "seed": int, "database": str,
        "workload": dict, "routing": dict, "links": dict, "collections": list, "driver": str}
DRIVERS = ("gevent", "loop")
"""How a load process drives its devices' replications (Scenario.driver)."""
DEFAULT_DRIVER = "loop"
_ROUTING = {"spec": str, "user_channels": list, "lead_roles": list, "bad_write_share": float,
            "delete_share": float, "foreign_write_share": float, "grant_change_at": float,
            "stranded_seed_share": float, "snapshot_every_s": float, "max_snapshots": int}
_LINKS: dict[str, type] = {"enabled": bool, "cut_after_s": float, "cut_after_down_bytes": int, "cut_reset": bool}


def _typed(value: Any, kind: type, where: str, path: Path) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is bool and isinstance(value, bool):
        return value
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{path}: {where} must be {kind.__name__}, not {value!r}")
    if isinstance(value, int | float) and value < 0:
        raise ConfigError(f"{path}: {where} must not be negative")
    return value


def load_scenario(path: Path) -> Scenario:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"scenario file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    for key, value in data.items():
        if key not in _TOP:
            raise ConfigError(f"{path}: unknown key {key!r}{did_you_mean(key, _TOP)} (known: {', '.join(_TOP)})")
        data[key] = _typed(value, _TOP[key], key, path)
    fleet_ref = data.pop("fleet", "demo")
    fleet_path = Path(fleet_ref) if fleet_ref.endswith(".toml") else \
        project_root() / "devices" / "fleets" / f"{fleet_ref}.toml"
    if not fleet_path.is_absolute() and not fleet_path.is_file():
        fleet_path = path.parent / fleet_path
    if not fleet_path.is_file():
        fleets = sorted(p.stem for p in (project_root() / "devices" / "fleets").glob("*.toml"))
        raise ConfigError(f"{path}: fleet: no fleet {fleet_ref!r}{did_you_mean(fleet_ref, fleets)} "
                          f"(no {fleet_path}; known: {', '.join(fleets)})")
    fleet = load_fleet(fleet_path)
    if "users" in data:
        fleet = replace(fleet, users=data.pop("users"))
    if "devices_per_user" in data:
        fleet = replace(fleet, devices_per_user=data.pop("devices_per_user"))
    if fleet.users < 1 or fleet.devices_per_user < 1:
        raise ConfigError(f"{path}: users and devices_per_user must be at least 1")
    workload_data = data.pop("workload", {})
    known = {f.name: f.type for f in fields(Workload)}
    workload_values = {}
    for key, value in workload_data.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown key 'workload.{key}'{did_you_mean(key, known)} "
                              f"(known: {', '.join(known)})")
        kind = float if known[key] in (float, "float") else int
        workload_values[key] = _typed(value, kind, f"workload.{key}", path)
    workload = Workload(**workload_values)
    for share in ("attachment_share", "start_awake_fraction"):
        if getattr(workload, share) > 1:
            raise ConfigError(f"{path}: workload.{share} is a share, at most 1")
    links = _links(data.pop("links", {}), path)
    routing = _routing(data.pop("routing"), path) if "routing" in data else None
    collections = _collections(data.pop("collections", None), routing, path)
    if data.get("driver", DEFAULT_DRIVER) not in DRIVERS:
        raise ConfigError(f"{path}: driver must be one of {', '.join(DRIVERS)}, not {data['driver']!r}")
    if data.get("time_scale", 1.0) <= 0:
        raise ConfigError(f"{path}: time_scale must be positive")
    return Scenario(name=path.stem, path=path, fleet=fleet, workload=workload, routing=routing, links=links,
                    collections=collections, **data)


def _collections(given: list[Any] | None, routing: Routing | None, path: Path) -> tuple[str, ...]:
    """A routing scenario's collections are its spec's; others may list theirs (`scope.name`, one scope)."""
    if routing is not None:
        if given is not None:
            raise ConfigError(f"{path}: collections: a routing scenario takes its spec's collections "
                              f"({routing.spec}); remove the list")
        spec = load_spec(routing.spec)
        return () if spec.collections == (DEFAULT_COLLECTION,) else spec.collections
    if given is None:
        return ()
    names = tuple(given)
    for name in names:
        if not isinstance(name, str) or name.count(".") != 1 or name.startswith("_default."):
            raise ConfigError(f"{path}: collections: {name!r} is not a named collection `scope.name`")
    if len({n.split(".")[0] for n in names}) > 1 or len(set(names)) != len(names) or not names:
        raise ConfigError(f"{path}: collections: distinct collections of one scope (Sync Gateway takes one)")
    return names


def routing_spec_path(ref: str, base: Path | None = None) -> Path:
    """A routing spec by name (gateway_config/routing/NAME.toml) or by path (relative to `base` or the cwd)."""
    if not ref.endswith(".toml"):
        return project_root() / "gateway_config" / "routing" / f"{ref}.toml"
    path = Path(ref)
    if not path.is_absolute() and base is not None and (base / path).is_file():
        return base / path
    return path


def _routing(table: dict[str, Any], path: Path) -> Routing:
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _ROUTING:
            raise ConfigError(f"{path}: unknown key 'routing.{key}'{did_you_mean(key, _ROUTING)} "
                              f"(known: {', '.join(_ROUTING)})")
        value = _typed(value, _ROUTING[key], f"routing.{key}", path)
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: routing.{key} must be a list of strings")
            value = tuple(value)
        values[key] = value
    if "spec" not in values:
        raise ConfigError(f"{path}: routing.spec: missing (a routing spec name, e.g. \"teams\", or a .toml path)")
    spec = routing_spec_path(values.pop("spec"), path.parent)
    if not spec.is_file():
        raise ConfigError(f"{path}: routing.spec: no routing spec at {spec}")
    for share in ("bad_write_share", "delete_share", "foreign_write_share", "stranded_seed_share"):
        if values.get(share, 0.0) > 1:
            raise ConfigError(f"{path}: routing.{share} is a share, at most 1")
    return Routing(spec=spec, **values)


def _links(table: dict[str, Any], path: Path) -> Links:
    values = {}
    for key, value in table.items():
        if key not in _LINKS:
            raise ConfigError(f"{path}: unknown key 'links.{key}'{did_you_mean(key, _LINKS)} "
                              f"(known: {', '.join(_LINKS)})")
        values[key] = _typed(value, _LINKS[key], f"links.{key}", path)
    for key in ("cut_after_s", "cut_after_down_bytes"):
        if values.get(key) == 0:
            raise ConfigError(f"{path}: links.{key} must be positive (leave it out for no cuts)")
    return Links(**values)


def find_scenario(ref: str) -> Scenario:
    path = Path(ref)
    if not path.suffix:
        path = project_root() / "scenarios" / f"{ref}.toml"
    return load_scenario(path)
