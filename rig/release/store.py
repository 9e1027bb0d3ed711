"""Completed stages of a release check, kept in its output folder so an interrupted check resumes.

A stage's result is stored under a key made of the gateway's name as given, the content of its
settings file, the stage and the stage's options: a changed name, settings file or option never
reuses an old result. Only completed stages are reused; a failed one runs again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rig.gateway.named import GatewayName, settings_file


def stage_key(name: GatewayName, stage: str, options: dict[str, Any]) -> str:
    settings = ""
    if name.config is not None and settings_file(name.config).is_file():
        settings = hashlib.sha256(settings_file(name.config).read_bytes()).hexdigest()
    material = json.dumps({"name": name.text, "settings": settings, "stage": stage, "options": options},
                          sort_keys=True, default=str)
    return f"{name.label}-{stage}-{hashlib.sha256(material.encode()).hexdigest()[:12]}"


class StageStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder / "stages"

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def completed(self, key: str) -> dict[str, Any] | None:
        """The stored result of a completed stage, or None (absent, failed or unreadable: run it again)."""
        try:
            data = json.loads(self.path(key).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) and data.get("ok") else None

    def save(self, key: str, result: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.path(key).with_suffix(".partial")
        partial.write_text(json.dumps(result, indent=1))
        partial.replace(self.path(key))  # a check killed mid-write never leaves a half file that looks complete
