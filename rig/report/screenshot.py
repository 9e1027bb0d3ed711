"""A picture of a report's first screen, taken with headless Chromium (the README's screenshot)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from rig._errors import ConfigError, RigError


def screenshot(page: Path, out: Path, *, width: int = 1200, height: int = 900, timeout: float = 120.0) -> Path:
    """`out` (PNG) showing the first `width` x `height` pixels of the HTML file `page`."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise ConfigError("no chromium on PATH: `apt-get install chromium` (./rig.sh setup installs it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rig-chromium-") as profile:
        done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}",
                               f"--window-size={width},{height}", f"--screenshot={out.resolve()}",
                               page.resolve().as_uri()], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not out.is_file():
        raise RigError(f"chromium could not photograph {page} (exit {done.returncode}): {done.stderr[-500:]}")
    return out
