"""The rig's own container image, built with no registry: `rig image rig` -> `localhost/rig:<tag>`.

Three layers, each reused when the digest of what goes into it is unchanged:

- `localhost/rig-base:<digest>`: the libraries `ldd` lists for this machine's Python and for
  every extension module that goes into the image (rig.gateway.image.base_image);
- `localhost/rig-python:<digest>`: this machine's Python (`sys.base_prefix`: the interpreter,
  the standard library without its tests, IDLE, tkinter and ensurepip) under /opt/python, and
  in its site-packages the installed distributions the rig needs at run time (RUNTIME and
  what they require, found through importlib.metadata, each file its RECORD lists);
- `localhost/rig:<tag>`: the rig's package and data folders under /rig, `python -m rig` as the
  entry point. Its `rig.inputs.sha256` label digests everything above, so a second build with
  nothing changed costs a hash of the inputs (about a second).

matplotlib (run reports) is left out, which keeps the image near 150 MB instead of 330 MB:
a run in a container writes its results, and `rig report RUN_DIR` on a machine with the dev
install draws the report.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from rig._errors import GatewayBuildError
from rig._paths import project_root
from rig.gateway.image import (
    ProgressFn,
    _build,
    _lock,
    base_image,
    docker_client,
    file_digest,
    image_labels,
)

RIG_REPOSITORY = "localhost/rig"
PYTHON_REPOSITORY = "localhost/rig-python"
INPUTS_LABEL = "rig.inputs.sha256"
RUNTIME = ("locust", "httpx", "docker", "prometheus-client", "h11")
"""The rig's run-time dependencies in the image (pyproject's, less pytest-xdist and matplotlib)."""
PROJECT_PARTS = ("rig", "scenarios", "devices", "gateway_config")
_STDLIB_SKIP = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
                "pydoc_data", "__phello__"}
_DYNLOAD_SKIP = re.compile(r"^(_test|_ctypes_test|_tkinter|xxlimited|_xxtestfuzz)")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def rig_tag(tag: str = "latest") -> str:
    return f"{RIG_REPOSITORY}:{tag}"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(roots: Iterable[str] = RUNTIME) -> list[metadata.Distribution]:
    """`roots` and every distribution they require (no extras), as installed here."""
    from packaging.markers import Marker  # on the building machine only (pytest requires it)

    found: dict[str, metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if _normal(name) in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise GatewayBuildError(f"the rig's image needs {name!r}, which is not installed here "
                                    "(pip install -e .)") from None
        found[_normal(name)] = dist
        for requirement in dist.requires or []:
            text, _, marker = requirement.partition(";")
            if marker.strip() and not Marker(marker.strip()).evaluate({"extra": ""}):
                continue
            match = _REQUIREMENT_NAME.match(text)
            if match:
                todo.append(match.group(1))
    return [found[key] for key in sorted(found)]


def python_members(prefix: Path | None = None) -> list[tuple[str, Path]]:
    """(path under /opt/python, host file) for the interpreter, the standard library and RUNTIME."""
    prefix = Path(prefix or sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = prefix / "bin" / version
    if not interpreter.is_file():
        raise GatewayBuildError(f"no interpreter at {interpreter} (sys.base_prefix {prefix})")
    members: dict[str, Path] = {f"bin/{version}": interpreter}
    stdlib = prefix / "lib" / version
    for folder, subfolders, files in os.walk(stdlib):
        relative = Path(folder).relative_to(stdlib)
        if relative == Path("."):
            subfolders[:] = [d for d in subfolders if d not in _STDLIB_SKIP and not d.startswith("config-")]
        for name in files:
            if name.endswith((".opt-1.pyc", ".opt-2.pyc")) or (
                    relative == Path("lib-dynload") and _DYNLOAD_SKIP.match(name)):
                continue
            path = Path(folder) / name
            if path.is_file():
                members[f"lib/{version}/{(relative / name).as_posix()}"] = path
    site = f"lib/{version}/site-packages"
    for dist in distributions():
        for file in dist.files or []:
            if file.parts and file.parts[0] == "..":
                continue  # scripts in bin/: the image runs `python -m rig`
            host = Path(str(dist.locate_file(file)))
            if host.is_file():
                members[f"{site}/{file.as_posix()}"] = host
    return sorted(members.items())


def project_members(root: Path | None = None) -> list[tuple[str, Path]]:
    """(path under /rig, host file) for the rig's package and data folders, without caches."""
    root = root or project_root()
    members = []
    for part in PROJECT_PARTS:
        for path in sorted((root / part).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".pyc"):
                members.append((str(path.relative_to(root)), path))
    return members


def _digest(members: list[tuple[str, Path]], *extra: str) -> str:
    sha = hashlib.sha256()
    for value in extra:
        sha.update(value.encode() + b"\0")
    for name, host in members:
        sha.update(f"{name}\0{file_digest(host)}\n".encode())
    return sha.hexdigest()


def _write_tar(path: Path, members: list[tuple[str, Path]], links: dict[str, str] | None = None) -> None:
    with tarfile.open(path, "w") as tar:
        dirs = sorted({str(p) for name, _ in members for p in Path(name).parents if str(p) != "."})
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, host in members:
            tar.add(str(host.resolve()), arcname=name, recursive=False)
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info, io.BytesIO(b""))


def _context(folder: str, tmp: Path) -> Path:
    for item in (project_root() / "images" / folder).iterdir():
        if item.is_file():
            shutil.copy(item, tmp / item.name)
    return tmp


def python_image(client: Any, members: list[tuple[str, Path]], digest: str, *,
                 progress: ProgressFn | None = None) -> str:
    """`localhost/rig-python:<digest>`: Python and RUNTIME on the base their libraries need."""
    tag = f"{PYTHON_REPOSITORY}:{digest[:16]}"
    if image_labels(client, tag) is not None:
        return tag
    binaries = [host for name, host in members if name.startswith("bin/") or name.endswith(".so")
                or ".so." in name]
    base = base_image(client, binaries, progress=progress)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    with tempfile.TemporaryDirectory(prefix="rig-python-") as tmp:
        context = _context("rig-python", Path(tmp))
        _write_tar(context / "python.tar", members, links={"bin/python3": version, "bin/python": version})
        _build(client, context, tag, buildargs={"BASE": base}, labels={INPUTS_LABEL: digest, "rig.base": base},
               progress=progress)
    return tag


def rig_image(tag: str = "latest", *, client: Any = None, force: bool = False,
              progress: ProgressFn | None = None) -> str:
    """`localhost/rig:<tag>` with this checkout's rig on this machine's Python; reused when unchanged."""
    client = client or docker_client()
    full = rig_tag(tag)
    python = python_members()
    project = project_members()
    python_digest = _digest(python, sys.version)
    inputs = _digest(project, python_digest, (project_root() / "images" / "rig" / "Dockerfile").read_text())
    with _lock(full.replace("/", "_").replace(":", "_")):
        labels = image_labels(client, full)
        if not force and labels is not None and labels.get(INPUTS_LABEL) == inputs:
            return full
        with _lock("rig-python"):
            base = python_image(client, python, python_digest, progress=progress)
        with tempfile.TemporaryDirectory(prefix="rig-image-") as tmp:
            context = _context("rig", Path(tmp))
            _write_tar(context / "rig.tar", project)
            _build(client, context, full, buildargs={"BASE": base}, labels={INPUTS_LABEL: inputs, "rig.base": base},
                   progress=progress)
    return full
