"""`rig gateway build | up | down | status | logs`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from rig._errors import ConfigError, GatewayError
from rig._paths import runs_dir


def register(commands: Any) -> None:
    gateway = commands.add_parser("gateway", help="build, start, stop and inspect Sync Gateway")
    sub = gateway.add_subparsers(dest="gateway_command", required=True, metavar="ACTION")

    from rig.gateway.build import DEFAULT_VERSION, RELEASES

    build = sub.add_parser("build", help="build Sync Gateway CE from source with Go (cached per version)")
    build.add_argument("--version", default=DEFAULT_VERSION, choices=list(RELEASES),
                       help=f"release to build (default {DEFAULT_VERSION})")
    build.add_argument("--force", action="store_true", help="rebuild even if cached")
    build.set_defaults(handler=_build)

    up = sub.add_parser("up", help="start a local Sync Gateway in the background")
    up.add_argument("--version", default=DEFAULT_VERSION, choices=list(RELEASES))
    up.add_argument("--binary", type=Path, help="run this Sync Gateway binary instead of a built one")
    up.add_argument("--database", default="rig", help="database name (default rig)")
    up.add_argument("--sync-function", type=Path, help="sync function .js file")
    up.add_argument("--data-dir", type=Path, help="keep rosmar data on disk here (default: in memory)")
    up.add_argument("--public-port", type=int, default=4984)
    up.add_argument("--admin-port", type=int, default=4985)
    up.add_argument("--metrics-port", type=int, default=4986)
    up.set_defaults(handler=_up)

    for name, handler, text in (("down", _down, "stop the gateway started by `rig gateway up`"),
                                ("status", _status, "is the gateway up, where, which version")):
        cmd = sub.add_parser(name, help=text)
        cmd.set_defaults(handler=handler)
    logs = sub.add_parser("logs", help="print the last lines of the gateway's log")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.set_defaults(handler=_logs)


def _state_path() -> Path:
    return runs_dir() / "gateway" / "state.json"


def _read_state() -> dict[str, Any]:
    path = _state_path()
    if not path.is_file():
        raise GatewayError(f"no gateway started by `rig gateway up` (no {path})")
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _resolve_binary(args: argparse.Namespace) -> Path:
    from rig.gateway.build import build

    if args.binary is not None:
        if not args.binary.is_file():
            raise ConfigError(f"--binary {args.binary}: no such file")
        return Path(args.binary)
    return build(args.version)


def _build(args: argparse.Namespace) -> int:
    from rig.gateway.build import binary_version, build

    path = build(args.version, force=args.force)
    print(path)
    print(binary_version(path))
    return 0


def _up(args: argparse.Namespace) -> int:
    from rig.gateway import DatabaseSpec, LocalGateway
    from rig.gateway.local import detach

    path = _state_path()
    if path.is_file() and _alive(int(json.loads(path.read_text())["pid"])):
        raise GatewayError(f"a gateway is already up (see `rig gateway status`; state in {path})")
    binary = _resolve_binary(args)
    gateway = LocalGateway(binary, path.parent,
                           databases=[DatabaseSpec(args.database, sync_function=args.sync_function)],
                           data_dir=args.data_dir,
                           ports=(args.public_port, args.admin_port, args.metrics_port))
    gateway.start()
    detach(gateway)
    state = {"pid": gateway.pid, "binary": str(binary), "database": args.database,
             "public_url": gateway.public_url, "admin_url": gateway.admin_url,
             "metrics_url": gateway.metrics_url, "log": str(gateway.log_path)}
    path.write_text(json.dumps(state, indent=2))
    print(f"Sync Gateway up (pid {gateway.pid})")
    for key in ("public_url", "admin_url", "metrics_url", "log"):
        print(f"  {key:12} {state[key]}")
    print(f"  database     {gateway.public_url}/{args.database}/")
    return 0


def _down(args: argparse.Namespace) -> int:
    state = _read_state()
    pid = int(state["pid"])
    if _alive(pid):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    _state_path().unlink()
    print(f"Sync Gateway (pid {pid}) stopped")
    return 0


def _status(args: argparse.Namespace) -> int:
    state = _read_state()
    pid = int(state["pid"])
    if not _alive(pid):
        print(f"down (pid {pid} is gone; log: {state['log']})")
        return 1
    try:
        info = httpx.get(state["public_url"] + "/", timeout=5).json()
    except httpx.HTTPError as exc:
        print(f"process {pid} runs but does not answer at {state['public_url']}: {exc}")
        return 1
    print(f"up (pid {pid}): {info.get('version')} (API {info.get('vendor', {}).get('version')})")
    for key in ("public_url", "admin_url", "metrics_url", "binary", "log"):
        print(f"  {key:12} {state[key]}")
    return 0


def _logs(args: argparse.Namespace) -> int:
    state = _read_state()
    lines = Path(state["log"]).read_text(errors="replace").splitlines()[-args.lines:]
    print("\n".join(lines))
    return 0
