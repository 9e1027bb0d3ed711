"""Turn a gateway name (rig.gateway.named) into a started, ready controller.

`version:` and `binary:` run a process (LocalGateway), `image:` a container (DockerGateway),
`url:` points at a running gateway (UrlGateway): there the rig only creates databases and,
when it is done, removes every database it created. A `+config:` file's server settings go into
the rendered top-level config of a gateway the rig starts; its database settings into every
database the rig creates (also in subprocesses, through ENV_DATABASE_SETTINGS).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from rig._errors import AdminApiError, ConfigError, GatewayError
from rig._paths import project_root
from rig.gateway.admin import AdminClient
from rig.gateway.base import GatewayController
from rig.gateway.config import DatabaseSpec
from rig.gateway.named import ENV_DATABASE_SETTINGS, GatewayName, GatewaySettings, load_settings, overlay

RIG_DATABASE = re.compile(r"^(c\d+_[0-9a-f]{8}|rc_[a-z0-9_]+)$")
"""Names of the databases the rig creates on a gateway given by URL (conformance cases, release check
stages), the only ones it removes there."""


@dataclass
class ResolvedGateway:
    """A started gateway and what the release check needs to know of it."""

    name: GatewayName
    controller: GatewayController
    settings: GatewaySettings
    version: str = ""
    """What the gateway says it is (admin API root)."""
    pid: int | None = None
    """Its process on this machine (local process or container), for CPU readings; None for url."""
    databases_before: set[str] = field(default_factory=set)

    def database_spec(self, name: str, **fields: Any) -> DatabaseSpec:
        """A database with the gateway's database settings laid over the rig's template."""
        extra = overlay(self.settings.database, fields.pop("extra", {}))
        return DatabaseSpec(name, extra=extra, **fields)

    def subprocess_env(self) -> dict[str, str]:
        """Environment for a subprocess that creates databases on this gateway (the settings go along)."""
        env = dict(os.environ)
        if self.settings.database:
            env[ENV_DATABASE_SETTINGS] = json.dumps(self.settings.database)
        else:
            env.pop(ENV_DATABASE_SETTINGS, None)
        return env

    def admin(self) -> AdminClient:
        return AdminClient(self.controller.admin_url, self.controller.metrics_url)

    def cpu_seconds(self) -> float | None:
        """The gateway process's CPU seconds so far: /proc for a process here, else its metrics."""
        if self.pid is not None:
            with contextlib.suppress(OSError):
                return _proc_cpu_seconds(self.pid)
        return metrics_cpu_seconds(self.controller.metrics_url)

    def describe(self) -> dict[str, Any]:
        return {"label": self.name.label, "name": self.name.text, "kind": self.name.kind,
                "target": self.name.target, "version": self.version, "settings": self.settings.as_dict(),
                "public_url": self.controller.public_url, "admin_url": self.controller.admin_url,
                "cpu_source": "process" if self.pid is not None else "metrics"}


def _proc_cpu_seconds(pid: int) -> float:
    # As rig.bench.cpu (which sits above this layer): user + system ticks from /proc/PID/stat.
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metrics_cpu_seconds(metrics_url: str) -> float | None:
    """`process_cpu_seconds_total` from the gateway's metrics, if it exports it."""
    with contextlib.suppress(httpx.HTTPError, AdminApiError, ValueError):
        admin = AdminClient(metrics_url, metrics_url)
        try:
            samples = [s for s in admin.metrics() if s.name in ("process_cpu_seconds", "process_cpu_seconds_total")]
        finally:
            admin.close()
        if samples:
            return samples[0].value
    return None


def gateway_version(admin_url: str) -> str:
    """The admin API root's `version` (e.g. `Couchbase Sync Gateway/4.2.0(...) CE`)."""
    try:
        data = httpx.get(f"{admin_url.rstrip('/')}/", timeout=10).json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"(unknown: {type(exc).__name__})"
    return str(data.get("version", "(not reported)")) if isinstance(data, dict) else "(not reported)"


def config_root(settings: GatewaySettings, folder: Path) -> Path | None:
    """A copy of gateway_config/ with the settings laid over gateway.json and database.json (None: none)."""
    if not settings.database and not settings.server:
        return None
    source = project_root() / "gateway_config"
    folder.mkdir(parents=True, exist_ok=True)
    for name, top in (("gateway.json", settings.server), ("database.json", settings.database)):
        base = json.loads((source / name).read_text())
        (folder / name).write_text(json.dumps(overlay(base, top), indent=2))
    sync = folder / "sync"
    if not sync.exists():
        shutil.copytree(source / "sync", sync)
    return folder


def _logs_set(settings: GatewaySettings) -> bool:
    return "logging" in settings.server


@contextlib.contextmanager
def started_gateway(name: GatewayName, run_dir: Path, *, databases: list[DatabaseSpec] | None = None,
                    log_level: str | None = "warn", progress: Callable[[str], None] = print,
                    ) -> Iterator[ResolvedGateway]:
    """Start (or reach) the gateway `name`, ready, and stop it (or remove the rig's databases) on exit."""
    settings = load_settings(name.config)
    if name.kind == "url":
        with _reached(name, settings, progress) as resolved:
            yield resolved
        return
    root = config_root(settings, run_dir / "gateway-config")
    level = None if _logs_set(settings) else log_level
    boot = databases if databases is not None else [DatabaseSpec("rig")]
    controller: Any
    if name.kind == "image":
        from rig.gateway.docker import DockerGateway, engine_problem

        problem = engine_problem()
        if problem:
            raise GatewayError(f"--gateway {name.text!r}: {problem}")
        progress(f"{name.label}: starting a container from {name.target}")
        controller = DockerGateway(name.target, run_dir / "gateway", databases=boot, log_level=level,
                                   config_root=root)
    else:
        from rig.gateway.local import LocalGateway

        binary = _binary(name, progress)
        progress(f"{name.label}: starting {binary}")
        controller = LocalGateway(binary, run_dir / "gateway", databases=boot, log_level=level, config_root=root)
    try:
        controller.start()
        pid = _pid(controller)
        yield ResolvedGateway(name, controller, settings, _version(controller), pid)
    finally:
        controller.stop()


def _version(controller: Any) -> str:
    """The admin API's version, with the build's module version (a source build's banner has no number)."""
    said = gateway_version(controller.admin_url)
    binary = getattr(controller, "binary", None)
    if isinstance(binary, Path):
        from rig._errors import GatewayBuildError
        from rig.gateway.build import binary_version

        with contextlib.suppress(GatewayBuildError):
            return binary_version(binary)
    image = getattr(controller, "image", None)
    container = getattr(controller, "_container", None)
    if image and container is not None:
        with contextlib.suppress(Exception):
            return f"{said}; image {image} ({str(container.image.id).removeprefix('sha256:')[:12]})"
    return said


def _binary(name: GatewayName, progress: Callable[[str], None]) -> Path:
    if name.kind == "binary":
        binary = Path(name.target)
        if not binary.is_file():
            raise ConfigError(f"--gateway {name.text!r}: binary {binary}: no such file")
        return binary
    from rig.gateway.build import build, find_binary

    return find_binary(name.target) or build(name.target, progress=progress)


def _pid(controller: Any) -> int | None:
    pid = getattr(controller, "pid", None)
    if isinstance(pid, int):
        return pid
    container = getattr(controller, "_container", None)
    if container is not None:
        with contextlib.suppress(Exception):
            container.reload()
            found = int(container.attrs.get("State", {}).get("Pid") or 0)
            # A rootless engine's container processes are processes of this machine, readable in /proc.
            if found and os.path.exists(f"/proc/{found}/stat"):
                return found
    return None


@contextlib.contextmanager
def _reached(name: GatewayName, settings: GatewaySettings, progress: Callable[[str], None],
             ) -> Iterator[ResolvedGateway]:
    from rig.gateway.url import UrlGateway

    if settings.server:
        raise ConfigError(f"--gateway {name.text!r}: server settings ({', '.join(settings.server)}) need a gateway "
                          "the rig starts; a gateway given by URL only takes \"database\" settings")
    public, admin_url, metrics = name.urls
    controller = UrlGateway(public, admin_url, metrics)
    progress(f"{name.label}: reaching the running gateway at {public}")
    controller.wait_ready(30)
    admin = AdminClient(admin_url, metrics)
    try:
        before = set(admin.all_databases())
    except AdminApiError as exc:
        raise GatewayError(f"--gateway {name.text!r}: the admin API at {admin_url} does not answer _all_dbs "
                           f"(the rig creates its databases through it): {exc}") from None
    resolved = ResolvedGateway(name, controller, settings, gateway_version(admin_url), None, before)
    try:
        yield resolved
    finally:
        removed = remove_rig_databases(admin, before)
        if removed:
            progress(f"{name.label}: removed the rig's {len(removed)} database(s) from {public}")
        admin.close()


def remove_rig_databases(admin: AdminClient, before: set[str]) -> list[str]:
    """Delete the databases the rig made since `before` (only names the rig uses); the names deleted."""
    removed = []
    for db in sorted(set(admin.all_databases()) - before):
        if RIG_DATABASE.match(db):
            with contextlib.suppress(AdminApiError):
                admin.delete_database(db)
                removed.append(db)
    return removed
