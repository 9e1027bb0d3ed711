"""Device profiles and fleet mixes, read from `devices/` TOML files with strict validation.

Every unknown key or ill-typed value is a ConfigError naming the file and the
dotted key, so a typo in a profile never silently falls back to a default.
"""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass, field, fields, replace
from math import exp, log
from pathlib import Path
from typing import Any

from rig._errors import ConfigError, did_you_mean
from rig._paths import project_root
from rig.faults.link import check_mix
from rig.replicator.clients import DEFAULT_RELEASE, client_release

_Z90 = 1.2815515655446004  # standard normal quantile at 0.9


@dataclass(frozen=True, slots=True)
class LogNormal:
    """A log-normal distribution fitted to its median and 90th percentile."""

    median: float
    p90: float

    def sample(self, rng: random.Random) -> float:
        sigma = log(self.p90 / self.median) / _Z90 if self.p90 > self.median else 0.0
        return float(exp(rng.gauss(log(self.median), sigma)))


@dataclass(frozen=True, slots=True)
class Foreground:
    session_minutes: LogNormal = LogNormal(3.0, 15.0)
    edits_per_minute: float = 0.5


@dataclass(frozen=True, slots=True)
class Background:
    session_minutes: LogNormal = LogNormal(60.0, 360.0)
    """Time in the background before the user opens the app again."""
    grace_seconds: float = 30.0
    """Time the OS grants the ongoing sync after backgrounding (beginBackgroundTask)."""


@dataclass(frozen=True, slots=True)
class Refresh:
    enabled: bool = True
    floor_minutes: float = 15.0
    gap_minutes: LogNormal = LogNormal(90.0, 360.0)
    budget_seconds: float = 30.0
    overrun_penalty: float = 2.0
    """Each overrun multiplies the next refresh gap (capped at 24 h)."""


@dataclass(frozen=True, slots=True)
class Push:
    enabled: bool = True
    budget_seconds: float = 30.0
    throttle_capacity: int = 3
    throttle_refill_per_hour: float = 3.0
    delay_seconds: LogNormal = LogNormal(1.0, 5.0)
    drop_probability: float = 0.05


@dataclass(frozen=True, slots=True)
class Kill:
    background_per_hour: float = 0.03
    """Terminations under memory pressure while in the background."""
    force_quit_per_hour: float = 0.0
    """The user swipes the app away while it is in the background."""


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    name: str
    platform: str
    description: str = ""
    foreground: Foreground = Foreground()
    background: Background = Background()
    refresh: Refresh = Refresh()
    push: Push = Push()
    kill: Kill = Kill()
    link: dict[str, float] = field(default_factory=lambda: {"slow4g": 1.0})
    """Link presets by weight (applied by the network-faults work; recorded for now)."""
    cbl: str = DEFAULT_RELEASE
    """The Couchbase Lite release the app ships (rig.replicator.clients): "3.3", "3.4" or "4.1"."""


_PLATFORMS = {"ios", "android", "windows"}
_SECTIONS: dict[str, type] = {"foreground": Foreground, "background": Background, "refresh": Refresh,
                              "push": Push, "kill": Kill}


def _number(value: Any, where: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{path}: {where} must be a number, not {value!r}")
    if value < 0:
        raise ConfigError(f"{path}: {where} must not be negative ({value})")
    return float(value)


def _section(cls: type, data: Any, where: str, path: Path) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [{where}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{where}.{key}"
        if key not in known:
            raise ConfigError(f"{path}: unknown key {dotted!r}{did_you_mean(key, known)} "
                              f"(known: {', '.join(known)})")
        default = getattr(cls(), key)
        if isinstance(default, LogNormal):
            if not isinstance(value, dict) or set(value) != {"median", "p90"}:
                raise ConfigError(f"{path}: {dotted} must be {{median = ..., p90 = ...}}")
            dist = LogNormal(_number(value["median"], f"{dotted}.median", path),
                             _number(value["p90"], f"{dotted}.p90", path))
            if dist.median <= 0 or dist.p90 < dist.median:
                raise ConfigError(f"{path}: {dotted} needs 0 < median <= p90")
            values[key] = dist
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{path}: {dotted} must be true or false, not {value!r}")
            values[key] = value
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{path}: {dotted} must be a whole number, not {value!r}")
            values[key] = value
        else:
            values[key] = _number(value, dotted, path)
            if key.endswith("probability") and values[key] > 1:
                raise ConfigError(f"{path}: {dotted} is a probability, at most 1")
    return cls(**values)


def _release(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: unknown Couchbase Lite release {value!r}: write the release as a string, "
                          f'e.g. cbl = "4.1"')
    return client_release(value, where=where).name


def load_profile(path: Path) -> DeviceProfile:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"device profile not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    values: dict[str, Any] = {"name": path.stem}
    for key, value in data.items():
        if key in _SECTIONS:
            values[key] = _section(_SECTIONS[key], value, key, path)
        elif key in ("platform", "description"):
            if not isinstance(value, str):
                raise ConfigError(f"{path}: {key} must be a string")
            values[key] = value
        elif key == "cbl":
            values[key] = _release(value, f"{path}: cbl")
        elif key == "link":
            if not isinstance(value, dict) or not value:
                raise ConfigError(f"{path}: [link] must be a table of preset = weight")
            values["link"] = {k: _number(v, f"link.{k}", path) for k, v in value.items()}
            check_mix(values["link"], where=f"{path}: link")
        else:
            known = ["platform", "description", "cbl", "link", *_SECTIONS]
            raise ConfigError(f"{path}: unknown key {key!r}{did_you_mean(key, known)} (known: {', '.join(known)})")
    if "platform" not in values:
        raise ConfigError(f"{path}: missing required key 'platform' (one of {sorted(_PLATFORMS)})")
    if values.get("platform") not in _PLATFORMS:
        raise ConfigError(f"{path}: platform must be one of {sorted(_PLATFORMS)}, not {values.get('platform')!r}")
    return DeviceProfile(**values)


def profiles_dir() -> Path:
    return project_root() / "devices" / "profiles"


def find_profile(name: str, directory: Path | None = None) -> DeviceProfile:
    base = directory or profiles_dir()
    path = base / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in base.glob("*.toml"))
        raise ConfigError(f"unknown device profile {name!r}{did_you_mean(name, known)} (no {path}); "
                          f"known: {', '.join(known)}")
    return load_profile(path)


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """Users, how many devices each has, and the profile mix."""

    name: str
    users: int
    devices_per_user: int
    mix: tuple[tuple[DeviceProfile, float], ...]

    def assign(self, rng: random.Random) -> list[tuple[int, DeviceProfile]]:
        """(user index, profile) for every device, profiles drawn by weight."""
        profiles = [p for p, _ in self.mix]
        weights = [w for _, w in self.mix]
        return [(user, rng.choices(profiles, weights)[0])
                for user in range(self.users) for _ in range(self.devices_per_user)]


def load_fleet(path: Path, profiles: Path | None = None) -> FleetSpec:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"fleet file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    known = ("users", "devices_per_user", "mix", "description")
    mix_keys = ("profile", "weight", "cbl")
    for key in data:
        if key not in known:
            raise ConfigError(f"{path}: unknown key {key!r}{did_you_mean(key, known)} (known: {', '.join(known)})")
    for key in ("users", "mix"):
        if key not in data:
            raise ConfigError(f"{path}: missing required key {key!r}")
    users, per_user = data.get("users"), data.get("devices_per_user", 1)
    for key, value in (("users", users), ("devices_per_user", per_user)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{path}: {key} must be a whole number >= 1, not {value!r}")
    mix = data.get("mix")
    if not isinstance(mix, list) or not mix:
        raise ConfigError(f"{path}: mix must be a list of [[mix]] tables with profile and weight")
    entries = []
    for index, entry in enumerate(mix):
        where = f"mix[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: {where} must be a table with profile and weight")
        for key in entry:
            if key not in mix_keys:
                raise ConfigError(f"{path}: unknown key '{where}.{key}'{did_you_mean(key, mix_keys)} "
                                  f"(known: {', '.join(mix_keys)})")
        if "profile" not in entry:
            raise ConfigError(f"{path}: {where}: missing required key 'profile'")
        if not isinstance(entry["profile"], str):
            raise ConfigError(f"{path}: {where}.profile must be a profile name (string), not {entry['profile']!r}")
        try:
            profile = find_profile(entry["profile"], profiles)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {where}.profile: {exc}") from None
        if "cbl" in entry:
            # The same profile shipped by another app release: a mix line overrides the profile's own.
            profile = replace(profile, cbl=_release(entry["cbl"], f"{path}: {where}.cbl"))
        entries.append((profile, _number(entry.get("weight", 1), f"{where}.weight", path)))
    return FleetSpec(path.stem, int(users), int(per_user), tuple(entries))  # type: ignore[arg-type]
