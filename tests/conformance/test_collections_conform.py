"""`rig conform` with a routing spec over named collections, on the real gateway: PASS with the rendered
functions, FAIL with a broken one, a usage error for a --sync-function that is not a folder of functions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rig._paths import project_root
from rig.conformance import render_sync_functions
from rig.oracle import load
from rig.replicator.clients import RELEASES

pytestmark = pytest.mark.gateway
SHOP = project_root() / "gateway_config" / "routing" / "shop.toml"


def conform(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rig", "conform", "--routing", str(SHOP), "--workers", "1",
                           "--out", str(tmp_path / "out"), *args], capture_output=True, text=True, timeout=600)


def test_the_collection_cases_pass_with_the_rendered_functions(tmp_path: Path) -> None:
    result = conform(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for cbl in RELEASES:  # every release the rig emulates, by default
        assert f"VERDICT main cbl {cbl}: PASS" in result.stdout
    assert result.stdout.count("PASSED  test_case[grants_hold_in_their_collection]") == len(RELEASES)
    assert result.stdout.count("6 passed, 0 failed") == len(RELEASES)


def test_a_notes_function_that_leaks_fails_the_run_naming_the_collection(tmp_path: Path) -> None:
    functions = render_sync_functions(load(SHOP), tmp_path / "sync")
    (functions / "shop.notes.js").write_text("function (doc, oldDoc) { channel('!'); }")  # public, any writer
    result = conform(tmp_path, "--sync-function", str(functions))
    assert result.returncode == 1, result.stdout + result.stderr
    for cbl in RELEASES:  # caught under each release
        assert f"VERDICT main cbl {cbl}: FAIL" in result.stdout
    assert result.stdout.count("FAILED  test_case[grants_hold_in_their_collection]") == len(RELEASES)
    assert "shop.notes/" in result.stdout  # findings name documents by collection


def test_a_sync_function_file_for_a_collection_spec_is_a_usage_error(tmp_path: Path) -> None:
    single = tmp_path / "one.js"
    single.write_text("function (doc) { channel(doc.channels); }")
    result = conform(tmp_path, "--sync-function", str(single))
    assert result.returncode == 2
    assert "shop.orders.js, shop.notes.js" in result.stderr


def test_a_gateway_given_by_url_fails_every_collection_case_instead_of_testing_another(tmp_path: Path) -> None:
    env = {**os.environ, "RIG_CONFORM_SPEC": str(SHOP), "RIG_SG_URLS": "http://x:1,http://x:2,http://x:3"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                             str(project_root() / "tests" / "conformance" / "test_cases.py")],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    assert "6 errors" in result.stdout and "needs a gateway binary the suite starts" in result.stdout  # ERROR rows
