"""Image inputs that need no engine: the compose config does not drift, ldd output is read right."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rig._paths import project_root
from rig.gateway.config import DatabaseSpec, Interfaces, render
from rig.gateway.image import _rootfs_members, libraries


def test_the_image_and_compose_config_is_the_rendered_config() -> None:
    # images/sync-gateway/config.json (in the image, mounted by docker-compose.yml) must follow the template.
    rendered = render([DatabaseSpec("rig")], Interfaces("0.0.0.0:4984", "0.0.0.0:4985", "0.0.0.0:4986"),
                      data_dir=None)
    rendered["databases"]["rig"]["server"] = "walrus:"
    on_disk = json.loads((project_root() / "images" / "sync-gateway" / "config.json").read_text())
    assert on_disk == rendered
    assert on_disk["admin_interface_authentication"] is False
    assert on_disk["metrics_interface_authentication"] is False


def test_ldd_libraries_include_the_loader_and_libc() -> None:
    libs = libraries(Path(sys.executable).resolve())
    names = {lib.name for lib in libs}
    assert any(name.startswith("libc.so") for name in names), names
    assert any(name.startswith("ld-linux") for name in names), names
    assert all(lib.is_absolute() and lib.exists() for lib in libs)


def test_rig_image_holds_python_the_runtime_dependencies_and_the_checkout_only() -> None:
    from rig.image import distributions, project_members, python_members

    names = {d.metadata["Name"].lower().replace("_", "-") for d in distributions()}
    assert {"locust", "httpx", "docker", "prometheus-client", "h11", "gevent", "pyzmq"} <= names
    assert not names & {"matplotlib", "numpy", "mypy", "hypothesis", "ruff"}, names
    members = dict(python_members())
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert f"bin/{version}" in members and f"lib/{version}/os.py" in members
    assert f"lib/{version}/site-packages/locust/__init__.py" in members
    assert not any(name.startswith((f"lib/{version}/test/", f"lib/{version}/idlelib/")) for name in members)
    project = dict(project_members())
    assert "rig/cli/__init__.py" in project and "scenarios/smoke.toml" in project
    assert not any("__pycache__" in name or name.startswith("tests/") for name in project)


def test_rootfs_adds_glibc_name_service_modules() -> None:
    members = dict(_rootfs_members([Path(sys.executable).resolve()]))
    assert any(name.endswith("libnss_files.so.2") for name in members), sorted(members)
