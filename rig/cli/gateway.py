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
    up.add_argument("--image", help="docker backend: image to run (default localhost/sync-gateway:<version>-ce, "
                                    "built by `rig gateway image` if missing)")
    up.set_defaults(handler=_up)

    for name, handler, text in (("down", _down, "stop the gateway started by `rig gateway up`"),
                                ("status", _status, "is the gateway up, where, which version")):
        cmd = sub.add_parser(name, help=text)
        cmd.set_defaults(handler=handler)
    logs = sub.add_parser("logs", help="print the last lines of the gateway's log")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.set_defaults(handler=_logs)
    up.add_argument("--backend", choices=("local", "docker"), default="local",
                    help="local: a process on loopback (default); docker: a container via DOCKER_HOST")
    for cmd in (sub.choices["down"], sub.choices["status"], logs):
        cmd.add_argument("--backend", choices=("local", "docker"), default=None,
                         help="default: the backend `rig gateway up` started")
    sub.choices["down"].add_argument("--all", action="store_true",
                                     help="docker backend: remove every container the rig made, of any run")

    fault = sub.add_parser("fault", help="inject a fault into the gateway `rig gateway up` started, now",
                           description="kill: kill -9, wait --seconds, start again (same config and ports); "
                                       "pause: freeze for --seconds; restart: stop and start; netdown (docker "
                                       "backend): the container off its network for --seconds. Prints how long "
                                       "the gateway was out.")
    fault.add_argument("kind", choices=("kill", "pause", "restart", "netdown"))
    fault.add_argument("--seconds", type=float, help="kill: seconds dead (default 3); pause: seconds frozen "
                                                     "(default 5); netdown: seconds off the network (default 5)")
    fault.add_argument("--backend", choices=("local", "docker"), default=None,
                       help="default: the backend `rig gateway up` started")
    fault.set_defaults(handler=_fault)

    image = sub.add_parser("image", help="build the local image localhost/sync-gateway:<version>-ce (no registry)")
    image.add_argument("--version", default=DEFAULT_VERSION, choices=list(RELEASES))
    image.add_argument("--binary", type=Path, help="put this Sync Gateway binary in the image instead of a built one")
    image.add_argument("--force", action="store_true", help="rebuild even if the image holds this binary")
    image.set_defaults(handler=_image)


def _state_path() -> Path:
    return runs_dir() / "gateway" / "state.json"


def _backend(args: argparse.Namespace) -> str:
    """The backend asked for, else the one `rig gateway up` started (its state file says which)."""
    if args.backend is not None:
        return str(args.backend)
    local, docker = _state_path().is_file(), _docker_state_path().is_file()
    if local and docker:
        raise ConfigError("both a local and a docker gateway are up: say which with --backend local|docker")
    return "docker" if docker else "local"


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


def _given_binary(args: argparse.Namespace) -> Path | None:
    if args.binary is None:
        return None
    if not args.binary.is_file():
        raise ConfigError(f"--binary {args.binary}: no such file")
    return Path(args.binary)


def _resolve_binary(args: argparse.Namespace) -> Path:
    from rig.gateway.build import build

    return _given_binary(args) or build(args.version)


def _build(args: argparse.Namespace) -> int:
    from rig.gateway.build import binary_version, build

    path = build(args.version, force=args.force)
    print(path)
    print(binary_version(path))
    return 0


def _up(args: argparse.Namespace) -> int:
    if args.backend == "docker":
        return _docker_up(args)
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
    if _backend(args) == "docker":
        return _docker_down(args)
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
    if _backend(args) == "docker":
        return _docker_status(args)
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
    if _backend(args) == "docker":
        return _docker_logs(args)
    state = _read_state()
    lines = Path(state["log"]).read_text(errors="replace").splitlines()[-args.lines:]
    print("\n".join(lines))
    return 0


# The docker backend ------------------------------------------------------------------------

def _docker_state_path() -> Path:
    return runs_dir() / "gateway" / "docker-state.json"


def _image(args: argparse.Namespace) -> int:
    from rig.gateway.image import sync_gateway_image

    started = time.monotonic()
    tag = sync_gateway_image(args.version, binary=_resolve_binary(args), force=args.force)
    print(f"{tag} ({time.monotonic() - started:.1f}s)")
    return 0


def _docker_up(args: argparse.Namespace) -> int:
    from rig.gateway import DatabaseSpec
    from rig.gateway.docker import DockerGateway, detach
    from rig.gateway.image import resolve_sg_image

    path = _docker_state_path()
    if path.is_file():
        raise GatewayError(f"a docker gateway is already up (see `rig gateway status --backend docker`; {path})")
    image = resolve_sg_image(args.version, args.image, _given_binary(args))
    path.parent.mkdir(parents=True, exist_ok=True)
    gateway = DockerGateway(image, path.parent / "docker",
                            databases=[DatabaseSpec(args.database, sync_function=args.sync_function)],
                            data_dir=args.data_dir, detached=True,
                            ports=(args.public_port, args.admin_port, args.metrics_port))
    try:
        gateway.start()
    except GatewayError:
        gateway.stop()
        raise
    detach(gateway)
    state = {"container": gateway.name, "run_id": gateway.run_id, "image": image, "database": args.database,
             "public_url": gateway.public_url, "admin_url": gateway.admin_url,
             "metrics_url": gateway.metrics_url}
    path.write_text(json.dumps(state, indent=2))
    print(f"Sync Gateway up in container {gateway.name} ({image})")
    for key in ("public_url", "admin_url", "metrics_url"):
        print(f"  {key:12} {state[key]}")
    print(f"  database     {gateway.public_url}/{args.database}/")
    return 0


def _docker_down(args: argparse.Namespace) -> int:
    from rig.gateway.docker import remove_containers

    path = _docker_state_path()
    removed: list[str] = []
    if args.all:
        removed += remove_containers()
    elif path.is_file():
        removed += remove_containers(run_id=json.loads(path.read_text())["run_id"])
    removed += remove_containers(orphans_only=True)  # a crashed run's leftovers
    path.unlink(missing_ok=True)
    print(f"removed {len(removed)} container(s): {', '.join(removed) or '-'}")
    return 0


def _docker_container(state: dict[str, Any]) -> Any:
    import docker.errors

    from rig.gateway.image import docker_client

    try:
        return docker_client().containers.get(state["container"])
    except docker.errors.NotFound:
        return None


def _read_docker_state() -> dict[str, Any]:
    path = _docker_state_path()
    if not path.is_file():
        raise GatewayError(f"no gateway started by `rig gateway up --backend docker` (no {path})")
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def _docker_status(args: argparse.Namespace) -> int:
    state = _read_docker_state()
    container = _docker_container(state)
    if container is None or container.status != "running":
        print(f"down (container {state['container']}: {'gone' if container is None else container.status})")
        return 1
    try:
        info = httpx.get(state["public_url"] + "/", timeout=5).json()
    except httpx.HTTPError as exc:
        print(f"container {state['container']} runs but does not answer at {state['public_url']}: {exc}")
        return 1
    print(f"up (container {state['container']}): {info.get('version')} (API {info.get('vendor', {}).get('version')})")
    for key in ("public_url", "admin_url", "metrics_url", "image"):
        print(f"  {key:12} {state[key]}")
    return 0


def _docker_logs(args: argparse.Namespace) -> int:
    state = _read_docker_state()
    container = _docker_container(state)
    if container is None:
        raise GatewayError(f"container {state['container']} is gone")
    print(container.logs(tail=args.lines).decode(errors="replace").rstrip())
    return 0


def _fault(args: argparse.Namespace) -> int:
    from rig.faults.command import DetachedContainerGateway, DetachedLocalGateway
    from rig.faults.gateway import DEFAULT_DOWN_S, Fault, FaultTarget, apply

    target: FaultTarget
    if _backend(args) == "docker":
        from rig.gateway.image import docker_client

        target = DetachedContainerGateway(_read_docker_state(), docker_client())
    else:
        if args.kind == "netdown":
            raise ConfigError("netdown needs --backend docker here: a local process has no network of its own to "
                              "leave; `rig run --fault netdown@AT+DOWN` takes the devices' links down instead")
        _read_state()  # a clear error when nothing is up
        target = DetachedLocalGateway(_state_path())
    down = DEFAULT_DOWN_S[args.kind] if args.seconds is None else args.seconds
    fault = Fault(args.kind, 0.0, down)
    print(f"{args.kind}: ...", flush=True)
    outage = apply(target, fault)
    if outage.error:
        print(f"{args.kind}: failed: {outage.error}")
        return 1
    print(f"{args.kind}: gateway answering again after {outage.seconds:.1f} s")
    return 0
