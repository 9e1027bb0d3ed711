"""Build container images with no registry: a base from a program and the libraries `ldd` lists.

`rig gateway image` turns the Go-built Sync Gateway into `localhost/sync-gateway:<version>-ce`;
the compose tests also need `localhost/prometheus:rig` from Debian's Prometheus binary. Both
stand on `localhost/rig-base:<digest>`, a root file system holding only the dynamic loader,
the shared libraries the programs link, and a few files in /etc (built `FROM scratch`, in
seconds). Builds go through the Docker API (`docker.from_env()`, so `DOCKER_HOST`), and an
image whose `rig.binary.sha256` label matches the binary's digest is reused.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rig._errors import GatewayBuildError
from rig._paths import cache_dir, project_root

SG_REPOSITORY = "localhost/sync-gateway"
PROMETHEUS_TAG = "localhost/prometheus:rig"
BASE_REPOSITORY = "localhost/rig-base"
DIGEST_LABEL = "rig.binary.sha256"
SG_BINARY_IN_IMAGE = "/opt/couchbase-sync-gateway/bin/sync_gateway"

ProgressFn = Callable[[str], None]

_LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")
# Name lookups through glibc (user names, hosts) need these even though ldd does not list them.
_NSS = ("libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2")
_ETC = {
    "etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    "etc/hosts": "127.0.0.1 localhost\n",
}


def sg_tag(version: str) -> str:
    return f"{SG_REPOSITORY}:{version}-ce"


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def libraries(binary: Path) -> list[Path]:
    """The shared libraries (and the loader) `ldd` lists for `binary`; [] for a static one."""
    try:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GatewayBuildError(f"ldd {binary} failed: {exc}") from None
    if out.returncode != 0:
        if "not a dynamic executable" in out.stdout + out.stderr:
            return []
        raise GatewayBuildError(f"ldd {binary} failed: {out.stderr.strip() or out.stdout.strip()}")
    libs = [Path(m.group(1)) for line in out.stdout.splitlines() if (m := _LDD_LINE.search(line))]
    missing = [line.strip() for line in out.stdout.splitlines() if "not found" in line]
    if missing:
        raise GatewayBuildError(f"{binary} links libraries this machine lacks: {missing}")
    return libs


def _rootfs_members(binaries: list[Path]) -> list[tuple[str, Path]]:
    """(path in image, host file) for every library of `binaries`, plus the NSS modules."""
    members: dict[str, Path] = {}
    for binary in binaries:
        for lib in libraries(binary):
            members[str(lib).lstrip("/")] = lib
    libdirs = {Path(name).parent for name in members if Path(name).name.startswith("libc.so")}
    for libdir in libdirs:
        for nss in _NSS:
            host = Path("/") / libdir / nss
            if host.is_file():
                members[str(libdir / nss)] = host
    return sorted(members.items())


def _write_rootfs(path: Path, members: list[tuple[str, Path]]) -> None:
    """A tar of the libraries (symlinks resolved), /etc basics, /tmp and /etc/ssl CA bundle."""
    with tarfile.open(path, "w") as tar:
        dirs: set[str] = {"tmp", "etc"}
        for name, _host in members:
            parent = Path(name).parent
            while str(parent) not in (".", ""):
                dirs.add(str(parent))
                parent = parent.parent
        for name in sorted(dirs):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for name, host in members:
            tar.add(str(host.resolve()), arcname=name, recursive=False)
        for name, text in _ETC.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        if bundle.is_file():
            tar.add(str(bundle.resolve()), arcname="etc/ssl/certs/ca-certificates.crt", recursive=False)


def docker_client() -> Any:
    """`docker.from_env()`; GatewayBuildError naming DOCKER_HOST when no engine answers."""
    import docker  # the SDK is a dependency; imported late so the CLI starts fast

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests errors, OSError...
        raise GatewayBuildError(f"no Docker-API engine answers (DOCKER_HOST unset or wrong?): {exc}") from None
    return client


def image_labels(client: Any, tag: str) -> dict[str, str] | None:
    """The labels of image `tag`, or None when there is no such image."""
    import docker.errors

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    return dict(image.labels or {})


def _build(client: Any, context: Path, tag: str, *, buildargs: dict[str, str] | None = None,
           labels: dict[str, str] | None = None, progress: ProgressFn | None = None) -> None:
    import docker.errors

    try:
        _image, logs = client.images.build(path=str(context), tag=tag, buildargs=buildargs or {},
                                           labels=labels or {}, rm=True, forcerm=True, pull=False)
    except docker.errors.BuildError as exc:
        text = "".join(str(line.get("stream", line.get("error", ""))) for line in exc.build_log)
        raise GatewayBuildError(f"building image {tag} failed: {exc.msg}\n{text[-3000:]}") from None
    except docker.errors.APIError as exc:
        raise GatewayBuildError(f"building image {tag} failed: {exc}") from None
    if progress is not None:
        for line in logs:
            text = str(line.get("stream", "")).rstrip()
            if text:
                progress(text)


@contextmanager
def _lock(name: str) -> Iterator[None]:
    """Parallel test workers building the same image wait for each other instead of racing."""
    path = cache_dir() / "images" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def base_image(client: Any, binaries: list[Path], *, progress: ProgressFn | None = None) -> str:
    """`localhost/rig-base:<digest>` holding what `binaries` need to run; built once per library set."""
    members = _rootfs_members(binaries)
    sha = hashlib.sha256()
    for name, host in members:
        sha.update(f"{name}\0{file_digest(host.resolve())}\n".encode())
    sha.update(json.dumps(_ETC, sort_keys=True).encode())
    tag = f"{BASE_REPOSITORY}:{sha.hexdigest()[:16]}"
    if image_labels(client, tag) is not None:
        return tag
    with tempfile.TemporaryDirectory(prefix="rig-base-") as tmp:
        context = Path(tmp)
        shutil.copy(project_root() / "images" / "base" / "Dockerfile", context / "Dockerfile")
        _write_rootfs(context / "rootfs.tar", members)
        _build(client, context, tag, progress=progress)
    return tag


def _binary_image(client: Any, *, tag: str, binary: Path, folder: str, force: bool,
                  progress: ProgressFn | None) -> str:
    """Build images/<folder>/ with `binary` unless `tag` already holds its digest."""
    if not binary.is_file():
        raise GatewayBuildError(f"binary not found: {binary}")
    digest = file_digest(binary)
    with _lock(tag.replace("/", "_").replace(":", "_")):
        labels = image_labels(client, tag)
        if not force and labels is not None and labels.get(DIGEST_LABEL) == digest:
            return tag
        base = base_image(client, [binary], progress=progress)
        with tempfile.TemporaryDirectory(prefix="rig-image-") as tmp:
            context = Path(tmp)
            source = project_root() / "images" / folder
            for item in source.iterdir():
                if item.is_file():
                    shutil.copy(item, context / item.name)
            shutil.copy(binary, context / "binary")
            _build(client, context, tag, buildargs={"BASE": base},
                   labels={DIGEST_LABEL: digest, "rig.base": base}, progress=progress)
    return tag


def sync_gateway_image(version: str = "main", *, binary: Path | None = None, client: Any = None,
                       force: bool = False, progress: ProgressFn | None = None) -> str:
    """`localhost/sync-gateway:<version>-ce` from the Go-built binary (built first if missing)."""
    if binary is None:
        from rig.gateway.build import build, find_binary

        binary = find_binary(version) or build(version)
    return _binary_image(client or docker_client(), tag=sg_tag(version), binary=binary, folder="sync-gateway",
                         force=force, progress=progress)


def prometheus_image(binary: Path = Path("/usr/bin/prometheus"), *, client: Any = None,
                     force: bool = False, progress: ProgressFn | None = None) -> str:
    """`localhost/prometheus:rig` from Debian's `prometheus` package binary."""
    if not binary.is_file():
        raise GatewayBuildError(f"{binary} not found: install Debian's `prometheus` (./rig.sh setup does)")
    return _binary_image(client or docker_client(), tag=PROMETHEUS_TAG, binary=binary, folder="prometheus",
                         force=force, progress=progress)


def resolve_sg_image(version: str, image: str | None = None, binary: Path | None = None) -> str:
    """The Sync Gateway image to run: `image` as given (a user's `couchbase/sync-gateway:...`), else
    `localhost/sync-gateway:<version>-ce`, built from the Go-built (or given) binary when it is missing
    or a binary is given."""
    tag = image or sg_tag(version)
    if tag.startswith(SG_REPOSITORY + ":") and (binary is not None or image_labels(docker_client(), tag) is None):
        return sync_gateway_image(version, binary=binary)
    return tag
