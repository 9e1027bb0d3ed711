"""Build Sync Gateway Community Edition from source through the Go module proxy.

Each release has a wrapper Go module in `gateway_build/<name>/` that requires
Sync Gateway by the pseudo-version of its release commit and repeats Sync
Gateway's own `replace` of the websocket library (a dependency's replace lines
are ignored by Go, so without it the build silently uses upstream websocket).
`go mod tidy` is never run: it would try to resolve the EE-only private module.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rig._errors import ConfigError, GatewayBuildError
from rig._paths import cache_dir, project_root


@dataclass(frozen=True, slots=True)
class Release:
    """One buildable Sync Gateway version."""

    name: str
    commit: str
    pseudo_version: str
    api_version: str
    note: str = ""


RELEASES: dict[str, Release] = {
    r.name: r
    for r in (
        Release("main", "f39abe11abb4b53ba6a723bfe65ad214b4ac2693",
                "v0.0.0-20260821161435-f39abe11abb4", "4.2",
                "main branch after 4.1.x (2026-08-21); the commit the Go module proxy serves here"),
        Release("4.1.1", "6bdbe7dde8b96134fffa21ab4fe89cedd9d5fb37",
                "v0.0.0-20260708185412-6bdbe7dde8b9", "4.1"),
        Release("4.0.7", "57e671010afbfc2732968822865fb7e6b4fc0685",
                "v0.0.0-20260708190811-57e671010afb", "4.0"),
        Release("3.3.7", "dcc397cfd303a68c985e72c7080f19a3faa4aff8",
                "v0.0.0-20260708175106-dcc397cfd303", "3.3"),
    )
}

# The release built when none is named: the newest one the Go module proxy
# delivers on our machines (see README, "Sync Gateway versions").
DEFAULT_VERSION = "main"

# The websocket fork's pseudo-version is not in the public checksum database;
# go.sum (committed) pins its hash instead.
_NOSUMDB = "github.com/couchbasedeps/websocket"

ProgressFn = Callable[[str], None]


def release(name: str) -> Release:
    try:
        return RELEASES[name]
    except KeyError:
        known = ", ".join(RELEASES)
        raise ConfigError(f"unknown Sync Gateway version {name!r}; known: {known}") from None


def binary_path(name: str) -> Path:
    """Where the build of `name` lives in the cache (it may not exist yet)."""
    rel = release(name)
    return cache_dir() / "sync_gateway" / f"{rel.name}-{rel.commit[:12]}" / "sync_gateway"


def find_binary(name: str) -> Path | None:
    path = binary_path(name)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build(name: str = DEFAULT_VERSION, *, force: bool = False,
          progress: ProgressFn = _stderr_progress) -> Path:
    """Build (or find in the cache) Sync Gateway `name` and return the binary's path."""
    rel = release(name)
    target = binary_path(name)
    if target.is_file() and not force:
        progress(f"Sync Gateway {rel.name} already built: {target}")
        return target
    go = shutil.which("go")
    if go is None:
        raise GatewayBuildError("the `go` command is not on PATH: install Go 1.26+ to build Sync Gateway")
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        raise GatewayBuildError("no C compiler (gcc) on PATH: Sync Gateway's rosmar storage needs cgo")
    module_dir = project_root() / "gateway_build" / rel.name
    if not (module_dir / "go.mod").is_file():
        raise GatewayBuildError(f"wrapper module missing: {module_dir / 'go.mod'}")
    # -mod=readonly once go.sum is committed; -mod=mod lets a first build fill go.sum.
    mod_mode = "readonly" if (module_dir / "go.sum").is_file() else "mod"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    # -v names each package as it is compiled: the progress a person waits on (cgo takes minutes).
    cmd = [go, "build", "-v", f"-mod={mod_mode}", "-trimpath", "-o", str(partial),
           "github.com/couchbase/sync_gateway"]
    env = dict(os.environ, CGO_ENABLED="1", GONOSUMDB=_NOSUMDB, GOFLAGS="")
    progress(f"building Sync Gateway {rel.name} ({rel.pseudo_version}) in {module_dir} ...")
    progress("  " + " ".join(cmd))
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=module_dir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    output = _stream(proc.stdout, started, progress)
    code = proc.wait()
    if code != 0:
        tail = "\n".join(output[-15:])
        raise GatewayBuildError(
            f"`{' '.join(cmd)}` failed with exit code {code} in {module_dir}:\n{tail}"
        )
    partial.replace(target)
    progress(f"built Sync Gateway {rel.name} in {time.monotonic() - started:.0f}s")
    return target


def _stream(lines: Iterable[str], started: float, progress: ProgressFn, quiet_s: float = 10.0) -> list[str]:
    """Each line of the build's output with the elapsed time; while the compiler stays silent
    (a cgo package takes a minute), a line every `quiet_s` seconds naming what it is still on."""
    pending: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in lines:
            pending.put(line)
        pending.put(None)

    threading.Thread(target=read, name="go-build-output", daemon=True).start()
    output: list[str] = []
    while True:
        try:
            line = pending.get(timeout=quiet_s)
        except queue.Empty:
            last = output[-1] if output else "resolving modules"
            progress(f"  [{time.monotonic() - started:5.0f}s] still building (last started: {last})")
            continue
        if line is None:
            return output
        output.append(line.rstrip())
        progress(f"  [{time.monotonic() - started:5.0f}s] {line.rstrip()}")


def binary_version(binary: Path) -> str:
    """What the binary says it is: its banner, and the Sync Gateway module it was built from.

    A module build leaves Sync Gateway's release placeholders unstamped (the
    banner then reads `Couchbase Sync Gateway/() CE`), so the module version
    embedded in the build info is what identifies the release.
    """
    try:
        out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise GatewayBuildError(f"cannot run {binary}: {exc}") from exc
    banner = ""
    for line in (out.stdout + out.stderr).splitlines():
        if "Couchbase Sync Gateway" in line:
            banner = line.split("====")[1].strip() if "====" in line else line.strip()
            break
    if not banner:
        raise GatewayBuildError(f"{binary} printed no version banner")
    module = _module_version(binary)
    if module is None:
        return banner
    names = [r.name for r in RELEASES.values() if r.pseudo_version == module]
    label = f"{names[0]} = " if names else ""
    return f"{banner}, built from github.com/couchbase/sync_gateway {label}{module}"


def _module_version(binary: Path) -> str | None:
    go = shutil.which("go")
    if go is None:
        return None
    out = subprocess.run([go, "version", "-m", str(binary)], capture_output=True, text=True, timeout=30)
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "mod" and parts[1] == "github.com/couchbase/sync_gateway":
            return parts[2]
    return None
