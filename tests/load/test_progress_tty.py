"""`rig run` on a terminal (tmux) shows one live status line, rewritten in place."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gateway, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30, check=True).stdout


def test_rig_run_in_a_terminal_shows_a_live_status_line(tmp_path: Path, sg_binary: Path) -> None:
    assert shutil.which("tmux"), "tmux is not installed (./rig.sh setup installs it)"
    session = f"rig-progress-{uuid.uuid4().hex[:8]}"
    done = tmp_path / "exit-code"
    command = (f"cd {ROOT} && PYTHONPATH={ROOT} {sys.executable} -m rig run smoke --duration 12 "
               f"--binary {sg_binary} --out {tmp_path / 'run'}; echo $? > {done}; sleep 120")
    _tmux("new-session", "-d", "-s", session, "-x", "220", "-y", "60", command)
    screens = []
    try:
        deadline = time.monotonic() + 300
        while not done.exists() and time.monotonic() < deadline:
            screens.append(_tmux("capture-pane", "-p", "-t", session))
            time.sleep(1)
        final = _tmux("capture-pane", "-p", "-S", "-200", "-t", session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=30, check=False)
    assert done.exists() and done.read_text().strip() == "0", final[-3000:]
    status = re.compile(r"^\[\s*(\d+)/12 s\] devices 30 .*\| errors \d+\s*$", re.M)
    seen = sorted({int(m.group(1)) for screen in screens for m in status.finditer(screen)})
    assert len(seen) >= 3, final[-3000:]  # the line moved on while the run went
    # Rewritten in place: at the end one status line remains on the screen, not one per update.
    assert len(status.findall(final)) == 1, final[-3000:]
    assert os.path.exists(tmp_path / "run" / "summary.json")
