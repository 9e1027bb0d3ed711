"""Where the rig finds its data folders and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path

from rig._errors import ConfigError


def project_root() -> Path:
    """The checkout holding `gateway_build/` and `gateway_config/` (the rig runs from a checkout)."""
    override = os.environ.get("RIG_PROJECT_ROOT")
    if override:
        return Path(override).resolve()
    here = Path(__file__).resolve().parent
    for candidate in (here.parent, Path.cwd()):
        if (candidate / "gateway_config").is_dir() and (candidate / "gateway_build").is_dir():
            return candidate
    raise ConfigError(
        "cannot find the rig's gateway_build/ and gateway_config/ folders; "
        "run from a checkout or set RIG_PROJECT_ROOT"
    )


def cache_dir() -> Path:
    """The user cache directory (XDG), where gateway builds live."""
    override = os.environ.get("RIG_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "couchbase-mobile-rig"


def runs_dir() -> Path:
    """Where each run keeps its logs, configs and results (override with RIG_RUNS_DIR)."""
    override = os.environ.get("RIG_RUNS_DIR")
    return Path(override) if override else Path.cwd() / "runs"
