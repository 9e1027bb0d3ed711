"""`rig conform --cbl`: the suite's devices behave as each Couchbase Lite release, one run and one
column per release, and the verdict fails when any release fails (real gateway)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rig._paths import project_root
from rig.conformance import CASES, Harness, broken_sync_functions, default_spec_path
from rig.oracle import SyncSnapshot, load, render
from rig.replicator.versions import Version

pytestmark = pytest.mark.gateway

ALL = ("3.3", "3.4", "4.1")
SUBSET = "test_case and user_channels"
"""One spec-checked case, small and enough for the wrong channel: devices sync, the oracle judges."""


def test_a_4_1_harness_records_the_gateways_rev_tree_ids_for_its_devices_versions(
        make_harness: Callable[..., Harness]) -> None:
    h = make_harness(cbl="4.1")
    CASES["user_channels"](h)
    assert h.findings() == []
    devices = list(h.devices.values())
    assert devices and all(d.release.name == "4.1" for d in devices)
    held = [d.rev for device in devices for d in device.store.docs.values()]
    assert held and all(Version.parse(rev) for rev in held)  # the devices really hold versions
    snapshots = [o for o in h.observations if isinstance(o, SyncSnapshot) and o.docs]
    assert snapshots and all(re.fullmatch(r"\d+-[0-9a-f]+", r.rev) for s in snapshots for r in s.docs.values())


def conform(tmp_path: Path, sync: Path, cbl: str) -> tuple[int, str]:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rig", "conform", "--routing", str(default_spec_path()), "--sync-function",
               str(sync), "--out", str(out), "--cbl", cbl, "-k", SUBSET, "--workers", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=project_root())
    return done.returncode, done.stdout + "\n--- stderr ---\n" + done.stderr


def table_row(output: str, row: str) -> list[str]:
    """The side-by-side table's cells for `row` (one per release column)."""
    line = next(line for line in output.splitlines() if line[3:].startswith(row + " "))
    return re.findall(r"(PASSED|FAILED|ERROR|SKIPPED)", line)


@pytest.mark.slow
def test_a_broken_sync_function_fails_under_every_release(tmp_path: Path) -> None:
    code, output = conform(tmp_path, broken_sync_functions()["wrong_channel"], ",".join(ALL))
    assert code == 1, output
    header = next(line for line in output.splitlines() if line.strip().startswith("case"))
    assert [f"main cbl {c}" for c in ALL] == re.findall(r"main cbl \d\.\d", header), output
    assert table_row(output, "test_case[user_channels]") == ["FAILED"] * 3, output
    for cbl in ALL:
        assert f"VERDICT main cbl {cbl}: FAIL" in output, output
        assert (tmp_path / "out" / f"main_cbl_{cbl}" / "junit.xml").is_file()
    assert output.count("leak: ") >= 3 and "rule=note.channels" in output, output


@pytest.mark.slow
def test_the_rendered_function_passes_under_every_release(tmp_path: Path) -> None:
    good = tmp_path / "good.js"
    good.write_text(render(load(default_spec_path())))
    code, output = conform(tmp_path, good, ",".join(ALL))
    assert code == 0, output
    assert table_row(output, "test_case[user_channels]") == ["PASSED"] * 3, output
    assert "no differences" in output


def test_an_unknown_release_is_refused_before_anything_runs(tmp_path: Path) -> None:
    code, output = conform(tmp_path, broken_sync_functions()["wrong_channel"], "3.3,4.0")
    assert code == 2, output
    assert "--cbl: unknown Couchbase Lite release '4.0'" in output and "3.3, 3.4, 4.1" in output
    assert not (tmp_path / "out").exists()
