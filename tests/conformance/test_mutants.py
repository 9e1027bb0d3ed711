"""The suite `rig conform --mutants` runs: one item per manifest entry (a baseline case, or one mutant).

Only meaningful under `rig conform --mutants` (rig/conformance/mutation.py), which
writes the manifest and reads the per-entry results; skipped otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rig.conformance.mutation import ENV_MANIFEST, run_entry, suite_cases
from rig.gateway import AdminClient
from rig.oracle import RoutingSpec

_MANIFEST = os.environ.get(ENV_MANIFEST)
if not _MANIFEST:
    pytest.skip("run by `rig conform --mutants`", allow_module_level=True)

pytestmark = pytest.mark.gateway
MANIFEST: dict[str, Any] = json.loads(Path(_MANIFEST).read_text())


@pytest.mark.parametrize("entry", MANIFEST["entries"], ids=[e["id"] for e in MANIFEST["entries"]])
def test_entry(entry: dict[str, Any], make_harness: Any, admin: AdminClient, routing_spec: RoutingSpec) -> None:
    result = run_entry(entry, make_harness, suite_cases(routing_spec), admin.delete_database)
    results = Path(MANIFEST["results"])
    results.mkdir(parents=True, exist_ok=True)
    partial = results / f".{entry['id']}.tmp"
    partial.write_text(json.dumps(result))
    partial.rename(results / f"{entry['id']}.json")
