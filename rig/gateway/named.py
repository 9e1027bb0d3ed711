"""Gateways by name: one syntax for every command that takes a Sync Gateway under test.

    LABEL=version:main                       a release the rig builds from source
    LABEL=binary:PATH                        a Sync Gateway binary
    LABEL=image:IMAGE                        a container image (docker backend, DOCKER_HOST)
    LABEL=url:PUBLIC,ADMIN[,METRICS]         a gateway someone else runs (the rig only creates
                                             and removes its own databases there)

each optionally followed by `+config:FILE.json`: settings laid over the rig's, as
``{"database": {...}, "server": {...}}`` in Sync Gateway's own config keys (a database's
`cache.rev_cache.size`, `delta_sync`, `users.GUEST`, ...; the server's `logging`, ...).
`LABEL=` may be left out: the label is then the version, the binary's or image's name, or
the public URL's host and port.

Parsing is pure (this module's first half); :mod:`rig.gateway.resolve` turns a parsed
name into a started controller.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rig._errors import ConfigError, did_you_mean
from rig._paths import project_root

KINDS = ("version", "binary", "image", "url")
CONFIG_MARK = "+config:"
SETTINGS_SECTIONS = ("database", "server")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
ENV_DATABASE_SETTINGS = "RIG_SG_DATABASE_SETTINGS"
"""JSON object laid over every database the rig creates (set for a `+config:` gateway; read by
rig.gateway.config.database_config), so subprocesses (the conformance suite, `rig run`) get it too."""


@dataclass(frozen=True, slots=True)
class GatewayName:
    """A parsed `--gateway` value."""

    label: str
    kind: str
    """version, binary, image or url."""
    target: str
    """The version, binary path or image; for url the public URL."""
    admin_url: str = ""
    metrics_url: str = ""
    config: Path | None = None
    text: str = ""
    """As given: keys the stored results of a release check, so a changed name never reuses them."""

    @property
    def urls(self) -> tuple[str, str, str]:
        return self.target, self.admin_url, self.metrics_url or self.admin_url

    def describe(self) -> str:
        where = {"version": f"Sync Gateway {self.target} built from source",
                 "binary": f"binary {self.target}", "image": f"image {self.target} (docker backend)",
                 "url": f"running gateway at {self.target} (admin {self.admin_url})"}[self.kind]
        return where + (f", settings {self.config}" if self.config else "")

    def portable_text(self) -> str:
        """As given, with the settings file as an absolute path: for a subprocess in another directory."""
        if self.config is None:
            return self.text
        return self.text.rpartition(CONFIG_MARK)[0] + CONFIG_MARK + str(settings_file(self.config).resolve())


def parse_gateway(text: str) -> GatewayName:
    """`LABEL=KIND:VALUE[+config:FILE]`; a ConfigError names the part that is wrong."""
    given = text.strip()
    if not given:
        raise ConfigError("--gateway: empty; expected LABEL=KIND:VALUE, e.g. a=version:main")
    body, config = _split_config(given)
    label = ""
    head, sep, rest = body.partition("=")
    if sep and ":" not in head:
        label, body = head, rest
        if not _LABEL.match(label):
            raise ConfigError(f"--gateway {given!r}: label {label!r} must be 1-40 letters, digits, '_', '.' or '-' "
                              "starting with a letter or digit")
    kind, sep, value = body.partition(":")
    if not sep:
        raise ConfigError(f"--gateway {given!r}: {body!r} has no KIND: prefix; expected one of "
                          f"{', '.join(k + ':' for k in KINDS)} (e.g. a=version:main)")
    if kind not in KINDS:
        raise ConfigError(f"--gateway {given!r}: unknown kind {kind!r}{did_you_mean(kind, KINDS)}; "
                          f"expected {', '.join(KINDS)}")
    value = value.strip()
    if not value:
        raise ConfigError(f"--gateway {given!r}: {kind}: needs a value after the colon")
    if kind == "url":
        public, admin, metrics = _parse_urls(given, value)
        return GatewayName(label or _url_label(public), kind, public, admin, metrics, config, given)
    if kind == "version":
        _check_version(given, value)
    return GatewayName(label or _default_label(kind, value), kind, value, config=config, text=given)


def _split_config(given: str) -> tuple[str, Path | None]:
    body, mark, path = given.rpartition(CONFIG_MARK)
    if not mark:
        if "+config" in given:
            raise ConfigError(f"--gateway {given!r}: write the settings file as +config:FILE.json")
        return given, None
    if not path.strip():
        raise ConfigError(f"--gateway {given!r}: +config: needs a settings file (FILE.json)")
    if CONFIG_MARK in body:
        raise ConfigError(f"--gateway {given!r}: +config: given twice; merge the settings into one file")
    return body, Path(path.strip())


def _parse_urls(given: str, value: str) -> tuple[str, str, str]:
    parts = [p.strip().rstrip("/") for p in value.split(",")]
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(f"--gateway {given!r}: url: expects PUBLIC_URL,ADMIN_URL[,METRICS_URL] "
                          f"(the rig creates its databases through the admin API), got {len(parts)} part(s)")
    for role, url in zip(("public", "admin", "metrics"), parts, strict=False):
        split = urlsplit(url)
        if split.scheme not in ("http", "https") or not split.netloc:
            raise ConfigError(f"--gateway {given!r}: the {role} URL {url!r} is not an http(s)://HOST:PORT URL")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def _check_version(given: str, value: str) -> None:
    from rig.gateway.build import RELEASES  # a constant table: no build happens here

    if value not in RELEASES:
        raise ConfigError(f"--gateway {given!r}: unknown version {value!r}{did_you_mean(value, RELEASES)}; "
                          f"known: {', '.join(RELEASES)}")


def _default_label(kind: str, value: str) -> str:
    name = value if kind == "version" else value.rstrip("/").rsplit("/", 1)[-1]
    return _safe(name)


def _url_label(public: str) -> str:
    return _safe(urlsplit(public).netloc)


def _safe(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text).strip("-.") or "gateway"
    return cleaned[:40]


def unique_labels(names: list[GatewayName]) -> list[GatewayName]:
    """The same names, a label given twice refused (the report's columns are keyed by label)."""
    seen: dict[str, str] = {}
    for name in names:
        if name.label in seen:
            raise ConfigError(f"--gateway: label {name.label!r} used twice ({seen[name.label]!r} and {name.text!r}); "
                              "give each gateway its own LABEL=")
        seen[name.label] = name.text
    return names


# Settings -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """What a `+config:` file lays over the rig's config."""

    database: dict[str, Any] = field(default_factory=dict)
    server: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "server": self.server, "source": self.source}


def parse_settings(data: Any, source: str) -> GatewaySettings:
    """A settings file's JSON: only `database` and `server` objects (keys starting `_comment` ignored)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object with \"database\" and/or \"server\"")
    sections = {k: v for k, v in data.items() if not k.startswith("_comment")}
    unknown = [k for k in sections if k not in SETTINGS_SECTIONS]
    if unknown:
        raise ConfigError(f"{source}: unknown section {unknown[0]!r}{did_you_mean(unknown[0], SETTINGS_SECTIONS)}; "
                          "settings go under \"database\" (laid over each database) or \"server\" "
                          "(laid over the top-level config)")
    for key, value in sections.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key!r} must be a JSON object, not {type(value).__name__}")
    return GatewaySettings(dict(sections.get("database", {})), dict(sections.get("server", {})), source)


def settings_file(path: Path) -> Path:
    """The settings file: as given (relative to the current directory), else the file of that name the
    rig ships in gateway_config/, so `+config:SMALL_CACHE.json` works from any directory."""
    if path.is_absolute() or path.exists():
        return path
    shipped = project_root() / "gateway_config" / path
    return shipped if shipped.is_file() else path


def load_settings(path: Path | None) -> GatewaySettings:
    if path is None:
        return GatewaySettings()
    path = settings_file(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"+config:{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"+config:{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    return parse_settings(data, f"+config:{path}")


def overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`base` with `top` laid over it, objects merged key by key (a new dict; neither is changed)."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = overlay(merged[key], value)
        else:
            merged[key] = value
    return merged


def database_settings_from_env() -> dict[str, Any]:
    """The database settings a `+config:` gateway passed down to this process (ENV_DATABASE_SETTINGS)."""
    text = os.environ.get(ENV_DATABASE_SETTINGS, "")
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{ENV_DATABASE_SETTINGS}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{ENV_DATABASE_SETTINGS}: expected a JSON object")
    return data
