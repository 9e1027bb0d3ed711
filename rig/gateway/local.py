"""Run a Sync Gateway binary on loopback with a rendered legacy config."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import time
import weakref
from collections import deque
from pathlib import Path

import httpx

from rig._errors import GatewayError, GatewayStartError
from rig.gateway.admin import AdminClient
from rig.gateway.config import DatabaseSpec, Interfaces, render, render_startup, storage_url

_LIVE: weakref.WeakSet[LocalGateway] = weakref.WeakSet()


_PICK = random.SystemRandom()  # not the `random` module: a seeded test must not make two processes pick alike
_HANDED_OUT: deque[int] = deque(maxlen=2_000)
"""Ports this process picked lately: a gateway's three ports are picked before any is bound, and a
random pick, unlike the kernel's, could hand out the same one twice."""
_BELOW_EPHEMERAL = 12_000
"""How many ports under the kernel's range for outgoing connections `free_port` picks from."""


def _ephemeral_low(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> int:
    """The lowest port the kernel gives outgoing connections (32768 where it cannot be read)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, so parallel gateways and load processes never clash.

    Picked below the kernel's range for outgoing connections: a port the kernel hands out for
    `bind(0)` lies in that range, and between this check and the real bind a device's outgoing
    connection could take it (seen once: a load process's metrics port, EADDRINUSE). Below the range
    only another listener can, and the random pick makes that unlikely."""
    low = _ephemeral_low()
    if low - _BELOW_EPHEMERAL >= 1024:
        for _ in range(100):
            port = _PICK.randrange(low - _BELOW_EPHEMERAL, low)
            if port in _HANDED_OUT:  # picked for another listener of this process that may not be bound yet
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
                _HANDED_OUT.append(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalGateway:
    """A Sync Gateway process on 127.0.0.1, its config and logs in `run_dir`.

    Storage is rosmar: in memory unless `data_dir` is given, in which case the
    databases are SQLite files there and survive a restart.
    """

    def __init__(self, binary: Path, run_dir: Path, *, databases: list[DatabaseSpec] | None = None,
                 data_dir: Path | None = None, host: str = "127.0.0.1",
                 ports: tuple[int, int, int] | None = None, extra_args: list[str] | None = None,
                 log_level: str | None = None, config_root: Path | None = None,
                 persistent_config: bool = False) -> None:
        self.binary = binary
        self.persistent_config = persistent_config
        """Persistent config (databases made over the admin API after start): what named collections need."""
        self.run_dir = run_dir
        self.databases = databases if databases is not None else [DatabaseSpec()]
        self.data_dir = data_dir
        self.host = host
        public, admin, metrics = ports or (free_port(host), free_port(host), free_port(host))
        self.interfaces = Interfaces(f"{host}:{public}", f"{host}:{admin}", f"{host}:{metrics}")
        self.extra_args = extra_args or []
        self.log_level = log_level
        self.config_root = config_root
        self.config_path = run_dir / "sync_gateway.json"
        self.log_path = run_dir / "sync_gateway.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def public_url(self) -> str:
        return f"http://{self.interfaces.public}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.interfaces.admin}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.interfaces.metrics}"

    @property
    def storage_url(self) -> str:
        """Where this gateway's databases live (databases created over REST should live there too)."""
        return storage_url(self.data_dir)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def is_running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        """Write the config, start the process and wait until every database is online."""
        if self.is_running():
            return
        if not self.binary.is_file():
            raise GatewayStartError(f"Sync Gateway binary not found: {self.binary}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.persistent_config:
            config = render_startup(self.interfaces, data_dir=self.data_dir, log_level=self.log_level)
        else:
            config = render(self.databases, self.interfaces, data_dir=self.data_dir,
                            sync_dir=self.run_dir, config_root=self.config_root, log_level=self.log_level)
        self.config_path.write_text(json.dumps(config, indent=2))
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                [str(self.binary), *self.extra_args, str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.run_dir, start_new_session=True,
            )
        finally:
            log.close()
        _LIVE.add(self)
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = [db.name for db in self.databases]
        with httpx.Client(base_url=self.admin_url, timeout=5) as client:
            while True:
                if self._proc is None or self._proc.poll() is not None:
                    code = None if self._proc is None else self._proc.returncode
                    raise GatewayStartError(
                        f"Sync Gateway exited during start (exit code {code}); config {self.config_path}",
                        log_tail=self.log_tail(30),
                    )
                try:
                    if self.persistent_config and pending and client.get("/_ping").status_code == 200:
                        self._create_databases(client)
                    pending = [name for name in pending
                               if client.get(f"/{name}/").json().get("state") != "Online"]
                    if not pending and client.get("/_ping").status_code == 200:
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise GatewayStartError(
                        f"Sync Gateway not ready after {timeout:.0f}s (databases not online: {pending})",
                        log_tail=self.log_tail(30),
                    )
                time.sleep(0.1)

    def _create_databases(self, client: httpx.Client) -> None:
        """Persistent config: create over REST the databases the gateway does not hold yet (on disk it keeps them)."""
        admin = AdminClient(self.admin_url)
        try:
            for spec in self.databases:
                if client.get(f"/{spec.name}/").status_code == 404:
                    admin.create_database_from_spec(spec, server="")
        finally:
            admin.close()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; the whole process group goes."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal_group(proc, signal.SIGCONT)  # a paused gateway could not act on SIGTERM
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait(10)
        self._proc = None
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._signal_group(proc, signal.SIGKILL)
            proc.wait(10)
        self._proc = None
        _LIVE.discard(self)

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP the process group: sockets stay open and nothing answers, as a frozen host."""
        if self._proc is None or self._proc.poll() is not None:
            raise GatewayError("the gateway is not running: start it first")
        self._signal_group(self._proc, signal.SIGSTOP)

    def unpause(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._signal_group(self._proc, signal.SIGCONT)

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def log_tail(self, lines: int = 50) -> str:
        try:
            with self.log_path.open("r", errors="replace") as handle:
                return "".join(deque(handle, maxlen=lines))
        except FileNotFoundError:
            return "(no log yet)"

    def __enter__(self) -> LocalGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    # A crashed test or an interrupted CLI must not leave gateways behind.
    for gateway in list(_LIVE):
        gateway.kill()


def detach(gateway: LocalGateway) -> None:
    """Let the gateway outlive this process (for `rig gateway up`)."""
    _LIVE.discard(gateway)
