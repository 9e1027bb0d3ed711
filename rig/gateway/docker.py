"""Run Sync Gateway in a container through the Docker API (Docker, or podman's API service).

Same interface and same rendered legacy config as `local`, bound to 0.0.0.0 inside
the container (admin and metrics authentication off, as rosmar needs), with the three
ports published on 127.0.0.1 only. Every container carries `rig.managed`, `rig.run`
and `rig.pid` labels: `rig gateway down --backend docker` removes a run's containers,
and containers whose creating process is gone (a crashed run) are reaped on the next
start. pause/unpause/kill/restart and disconnect_network/reconnect_network are there
for fault injection.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import time
import uuid
import weakref
from pathlib import Path
from typing import Any

import httpx

from rig._errors import GatewayError, GatewayStartError
from rig.gateway.config import DatabaseSpec, Interfaces, render, storage_url
from rig.gateway.local import free_port

LABEL_MANAGED = "rig.managed"
LABEL_RUN = "rig.run"
LABEL_PID = "rig.pid"
LABEL_HOST = "rig.host"
CONFIG_DIR = "/etc/sync_gateway"
DATA_DIR = "/var/lib/sync_gateway/data"
PORTS = (4984, 4985, 4986)

_LIVE: weakref.WeakSet[DockerGateway] = weakref.WeakSet()


def engine_problem(timeout: float = 5.0) -> str | None:
    """None when a Docker-API engine answers at DOCKER_HOST (or the default socket), else why not."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # DockerException, requests' ConnectionError, OSError...
        where = os.environ.get("DOCKER_HOST") or "the default socket (DOCKER_HOST unset)"
        return f"no Docker-API engine answers at {where}: {type(exc).__name__}: {str(exc)[:200]}"
    return None


def _client() -> Any:
    import docker

    try:
        return docker.from_env(timeout=60)
    except Exception as exc:
        raise GatewayError(f"no Docker-API engine: {exc}") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_containers(*, run_id: str | None = None, orphans_only: bool = False, client: Any = None) -> list[str]:
    """Force-remove the rig's containers (of `run_id`, or all; or only those of dead processes here)."""
    client = client or _client()
    filters = {"label": [f"{LABEL_MANAGED}=1"] + ([f"{LABEL_RUN}={run_id}"] if run_id else [])}
    removed = []
    for container in client.containers.list(all=True, filters=filters):
        labels = container.labels or {}
        if orphans_only:
            pid = labels.get(LABEL_PID, "")
            if labels.get(LABEL_HOST) != socket.gethostname() or not pid.isdigit() or _pid_alive(int(pid)):
                continue
        with contextlib.suppress(Exception):  # already gone: fine
            container.remove(force=True)
            removed.append(container.name)
    return removed


class DockerGateway:
    """A Sync Gateway container from `image`, its config rendered into `run_dir` and mounted.

    Storage is rosmar: in memory unless `data_dir` (a host directory) is given, which is
    mounted at /var/lib/sync_gateway/data so databases survive a kill and a restart.
    """

    def __init__(self, image: str, run_dir: Path, *, databases: list[DatabaseSpec] | None = None,
                 data_dir: Path | None = None, ports: tuple[int, int, int] | None = None,
                 run_id: str | None = None, extra_args: list[str] | None = None,
                 log_level: str | None = None, config_root: Path | None = None, name: str | None = None,
                 user: str | None = None, detached: bool = False) -> None:
        self.image = image
        self.run_dir = run_dir
        self.databases = databases if databases is not None else [DatabaseSpec()]
        self.data_dir = data_dir
        public, admin, metrics = ports or (free_port(), free_port(), free_port())
        self.host_ports = (public, admin, metrics)
        self.run_id = run_id or os.environ.get("RIG_RUN_ID") or uuid.uuid4().hex[:12]
        self.extra_args = extra_args or []
        self.log_level = log_level
        self.config_root = config_root
        self.name = name or f"rig-sg-{self.run_id}-{uuid.uuid4().hex[:6]}"
        self.user = user
        self.detached = detached
        """Made to outlive this process (`rig gateway up`): never reaped as an orphan."""
        self.config_dir = run_dir / "config"
        self._client: Any = None
        self._container: Any = None
        self._networks: list[str] = []
        """Networks disconnect_network() took the container off."""

    # Where -------------------------------------------------------------------------------
    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.host_ports[0]}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.host_ports[1]}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.host_ports[2]}"

    @property
    def storage_url(self) -> str:
        """Where this gateway's databases live, as the gateway inside the container names it."""
        return storage_url(Path(DATA_DIR) if self.data_dir is not None else None)

    @property
    def host_address(self) -> str:
        """This machine's address on the container's network (its bridge gateway): where the gateway's
        webhooks reach a push service on this machine. Not a public address: only containers on that
        bridge reach it. Raises GatewayError before start or when Docker reports no gateway."""
        container = self._require()
        container.reload()
        networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        for settings in networks.values():
            if (settings or {}).get("Gateway"):
                return str(settings["Gateway"])
        raise GatewayError(f"container {self.name} reports no network gateway (networks: {', '.join(networks)}); "
                           "its webhooks cannot reach this machine")

    @property
    def container_id(self) -> str | None:
        return None if self._container is None else str(self._container.id)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _client()
        return self._client

    def status(self) -> str:
        """The container's state (running, paused, exited, ...), or `absent`."""
        if self._container is None:
            return "absent"
        try:
            self._container.reload()
        except Exception:
            return "absent"
        return str(self._container.status)

    def is_running(self) -> bool:
        return self.status() == "running"

    # Lifecycle ---------------------------------------------------------------------------
    def render_config(self) -> Path:
        """Write config.json and the sync functions into `config_dir` with in-container paths."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        interfaces = Interfaces("0.0.0.0:4984", "0.0.0.0:4985", "0.0.0.0:4986")
        config = render(self.databases, interfaces, data_dir=Path(DATA_DIR) if self.data_dir else None,
                        sync_dir=self.config_dir, config_root=self.config_root, log_level=self.log_level)
        for db in config["databases"].values():
            sync = db.get("sync", "")
            if isinstance(sync, str) and sync.startswith(str(self.config_dir.resolve())):
                db["sync"] = f"{CONFIG_DIR}/{Path(sync).name}"
        path = self.config_dir / "config.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def start(self) -> None:
        """Create and start the container (or start the stopped or killed one), then wait until ready."""
        status = self.status()
        if status == "running":
            return
        if status == "paused":
            raise GatewayError(f"container {self.name} is paused: unpause it first")
        if status == "absent":
            self._create()
        else:
            self.render_config()  # the databases may have changed since the container was made
            self._container.start()
        _LIVE.add(self)
        self.wait_ready()

    def _create(self) -> None:
        with contextlib.suppress(Exception):
            remove_containers(orphans_only=True, client=self.client)
        import docker.errors

        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.render_config()
        volumes = {str(self.config_dir.resolve()): {"bind": CONFIG_DIR, "mode": "ro"}}
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            volumes[str(self.data_dir.resolve())] = {"bind": DATA_DIR, "mode": "rw"}
        owner = "detached" if self.detached else str(os.getpid())
        labels = {LABEL_MANAGED: "1", LABEL_RUN: self.run_id, LABEL_PID: owner, LABEL_HOST: socket.gethostname()}
        ports = {f"{inner}/tcp": ("127.0.0.1", outer) for inner, outer in zip(PORTS, self.host_ports, strict=True)}
        try:
            self._container = self.client.containers.run(
                self.image, command=[*self.extra_args, f"{CONFIG_DIR}/config.json"], name=self.name,
                detach=True, labels=labels, ports=ports, volumes=volumes, user=self.user,
            )
        except docker.errors.ImageNotFound:
            raise GatewayStartError(f"image {self.image} not found: build it with `rig gateway image` "
                                    "(or pull couchbase/sync-gateway where a registry is reachable)") from None
        except docker.errors.APIError as exc:
            raise GatewayStartError(f"cannot start a container from {self.image}: {exc}") from None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /_ping answers and every database is Online; on failure the container's last log lines."""
        deadline = time.monotonic() + timeout
        pending = [db.name for db in self.databases]
        with httpx.Client(base_url=self.admin_url, timeout=5) as client:
            while True:
                status = self.status()
                if status not in ("running", "created", "configured"):
                    raise GatewayStartError(
                        f"Sync Gateway container {self.name} is {status} during start ({self.image})",
                        log_tail=self.log_tail(30))
                try:
                    pending = [name for name in pending
                               if client.get(f"/{name}/").json().get("state") != "Online"]
                    if not pending and client.get("/_ping").status_code == 200:
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise GatewayStartError(
                        f"Sync Gateway container {self.name} not ready after {timeout:.0f}s "
                        f"(databases not online: {pending})", log_tail=self.log_tail(30))
                time.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (SIGKILL after `timeout`) and remove the container; its logs go with it."""
        container = self._container
        if container is None:
            return
        with contextlib.suppress(Exception):
            if self.status() == "paused":
                container.unpause()
            container.stop(timeout=int(timeout))
        with contextlib.suppress(Exception):
            container.remove(force=True)
        self._container = None
        _LIVE.discard(self)

    def restart(self) -> None:
        """Stop and start the same container (in-memory databases start empty, as `local`)."""
        if self._container is None or self.status() == "absent":
            self._container = None
            self.start()
            return
        if self.status() == "paused":
            self._container.unpause()
        self.render_config()
        self._container.restart(timeout=15)
        self.wait_ready()

    # Faults ------------------------------------------------------------------------------
    def _require(self) -> Any:
        if self._container is None:
            raise GatewayError("no container: start the gateway first")
        return self._container

    def pause(self) -> None:
        """Freeze every process of the container: connections stay open, nothing answers."""
        self._require().pause()

    def unpause(self) -> None:
        self._require().unpause()

    def kill(self, signal: str = "SIGKILL") -> None:
        """Kill the gateway as a crash would; the container stays (start() starts it again)."""
        container = self._require()
        if self.status() == "paused":
            container.unpause()
        container.kill(signal=signal)
        deadline = time.monotonic() + 15
        while self.status() == "running" and time.monotonic() < deadline:
            time.sleep(0.1)

    def disconnect_network(self) -> list[str]:
        """Take the container off every network it is on: the gateway keeps running, nothing reaches it.

        The published ports stop answering (new connections and open ones alike) until
        `reconnect_network()`. Returns the networks' names. Raises GatewayError with the
        engine's answer if the engine refuses (the Docker API's network disconnect).
        """
        self._networks = disconnect_container(self.client, self._require(), self.name)
        return self._networks

    def reconnect_network(self, timeout: float = 60.0) -> None:
        """Put the container back on the networks `disconnect_network()` took it off, then wait until ready."""
        reconnect_container(self.client, self._require(), self.name, self._networks)
        self._networks = []
        self.wait_ready(timeout)

    def log_tail(self, lines: int = 50) -> str:
        if self._container is None:
            return "(no container)"
        try:
            text: bytes = self._container.logs(tail=lines)
        except Exception as exc:
            return f"(cannot read the container's log: {exc})"
        return text.decode(errors="replace")

    def __enter__(self) -> DockerGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def disconnect_container(client: Any, container: Any, name: str) -> list[str]:
    """Take a container off every network it is on (the engine's network disconnect); the networks' names."""
    container.reload()
    names = list((container.attrs.get("NetworkSettings") or {}).get("Networks") or {})
    if not names:
        raise GatewayError(f"container {name} is on no network (already disconnected?)")
    _on_networks(client, container, name, names, connect=False)
    return names


def reconnect_container(client: Any, container: Any, name: str, networks: list[str]) -> None:
    """Put a container back on `networks` (the engine's network connect)."""
    _on_networks(client, container, name, networks, connect=True)


def _on_networks(client: Any, container: Any, name: str, networks: list[str], *, connect: bool) -> None:
    verb = "reconnect" if connect else "disconnect"
    for network in networks:
        try:
            handle = client.networks.get(network)
            (handle.connect if connect else handle.disconnect)(container)
        except Exception as exc:
            raise GatewayError(f"the engine refused to {verb} {name} {'to' if connect else 'from'} network "
                               f"{network!r}: {type(exc).__name__}: {exc}") from None


@atexit.register
def _remove_all() -> None:
    # A crashed test or an interrupted CLI must not leave containers behind.
    for gateway in list(_LIVE):
        with contextlib.suppress(Exception):
            if gateway._container is not None:
                gateway._container.remove(force=True)


def detach(gateway: DockerGateway) -> None:
    """Let the container outlive this process (for `rig gateway up --backend docker`)."""
    _LIVE.discard(gateway)
