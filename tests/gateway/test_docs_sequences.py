"""Every command sequence the README and docs mark `<!-- test: runs -->` runs as written, against
a real gateway: the `rig` of the text is this checkout's, and the gateway's well-known ports
(4984, 4985, 4986) become free ones so the test runs beside others."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rig.gateway.local import free_port

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
_MARKED = re.compile(r"<!-- test: runs -->\s*\n```sh\n(.*?)```", re.S)


def marked_blocks() -> list[tuple[str, str]]:
    """(page, block text) of every marked shell block."""
    return [(page.name, match.group(1))
            for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
            for match in _MARKED.finditer(page.read_text())]


def on_free_ports(block: str, ports: dict[str, int]) -> str:
    """The block with the default ports moved, and `rig gateway up` told the moved ones."""
    for default, port in ports.items():
        block = block.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
    moved = f" --public-port {ports['4984']} --admin-port {ports['4985']} --metrics-port {ports['4986']}"
    return re.sub(r"^(rig gateway up\b.*)$", lambda m: m.group(1) + moved, block, flags=re.M)


def test_the_marked_blocks_are_found_and_moved_to_free_ports() -> None:
    blocks = marked_blocks()
    assert len(blocks) >= 3 and all(page for page, _ in blocks)
    moved = on_free_ports("rig gateway up --backend docker\nrig run x --gateway-url http://127.0.0.1:4984\n",
                          {"4984": 1, "4985": 2, "4986": 3})
    assert moved == ("rig gateway up --backend docker --public-port 1 --admin-port 2 --metrics-port 3\n"
                     "rig run x --gateway-url http://127.0.0.1:1\n")


@pytest.mark.parametrize(("page", "block"), marked_blocks(), ids=lambda v: v.splitlines()[0][:50] if "\n" in v else v)
def test_the_sequence_runs_as_written(page: str, block: str, tmp_path: Path, sg_binary: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "rig"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m rig "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", RIG_RUNS_DIR=str(tmp_path / "runs"),
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    script = on_free_ports(block, {"4984": free_port(), "4985": free_port(), "4986": free_port()})
    try:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=900)
    finally:
        for backend in ("local", "docker"):  # a failed step must not leave a gateway behind
            subprocess.run(["rig", "gateway", "down", "--backend", backend], cwd=tmp_path, env=env,
                           capture_output=True, timeout=120)
    assert result.returncode == 0, f"{page}:\n{script}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
