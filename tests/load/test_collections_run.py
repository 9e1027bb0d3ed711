"""`rig run` over named collections, against the real Sync Gateway (persistent config).

A routing scenario over the two-collection `shop` spec with the mixed fleet: the workload writes
orders and notes into their collections, every device replicates both in one replication, the push
service wakes devices, the final check and the oracle judge each collection. The rendered functions
give no finding; a notes function that leaks fails the run with findings naming `shop.notes/...`.
A scenario that lists its collections (no spec) runs the team workload over them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

SMALL = ('fleet = "mixed"\nusers = 10\ndevices_per_user = 2\ntime_scale = 60.0\nduration_s = 8\nramp_per_s = 100\n'
         'team_size = 5\n\n[workload]\ndocs_per_user = 2\nstart_awake_fraction = 1.0\nattachment_share = 0.0\n')


def _run(tmp_path: Path, sg_binary: Path, scenario: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    path = tmp_path / "collections.toml"
    path.write_text(scenario)
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "rig", "run", str(path), "--binary", str(sg_binary),
                             "--out", str(out), *extra], capture_output=True, text=True, timeout=400)
    return result, out


SHOP = SMALL + ('\n[routing]\nspec = "shop"\nlead_roles = ["clerk"]\nbad_write_share = 0.3\ndelete_share = 0.2\n'
                'snapshot_every_s = 5\n')


def _final_docs(out: Path) -> list[str]:
    records = [json.loads(line) for path in out.glob("observations-[0-9]*.jsonl")
               for line in path.read_text().splitlines()]
    return [doc for r in records if r["kind"] == "sync" and r.get("scope", "all") == "all" for doc in r["docs"]]


def test_shop_run_over_two_collections_has_no_finding(tmp_path: Path, sg_binary: Path) -> None:
    result, out = _run(tmp_path, sg_binary, SHOP)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    oracle = summary["oracle"]
    assert oracle["findings"] == 0, oracle["examples"]
    assert oracle["writes_refused"] > 0 and oracle["docs_visible_final"] > 50
    held = _final_docs(out)
    assert any(d.startswith("shop.orders/") for d in held) and any(d.startswith("shop.notes/") for d in held)
    assert not [d for d in held if "/" not in d]  # nothing in the default collection (the database has none)
    assert summary["verify_problems"] == [] and summary["final_sync_failures"] == []
    assert summary["push"]["delivered"] > 0  # the push service found the collections' documents and woke devices
    assert summary["durability"]["checked"] > 0 and summary["figures"]["lost_writes"] == 0
    assert sorted(p.name for p in (out / "sync-rendered").iterdir()) == ["shop.notes.js", "shop.orders.js"]


def test_a_leaking_notes_function_fails_the_run_naming_the_collection(tmp_path: Path, sg_binary: Path) -> None:
    functions = tmp_path / "functions"
    functions.mkdir()
    from rig.conformance import render_sync_functions
    from rig.oracle import load
    from rig.oracle.routing import DEFAULT_COLLECTION

    rendered = render_sync_functions(load(Path(__file__).parents[2] / "gateway_config" / "routing" / "shop.toml"),
                                     tmp_path / "rendered")
    assert DEFAULT_COLLECTION not in rendered.name
    shutil.copy(rendered / "shop.orders.js", functions / "shop.orders.js")
    (functions / "shop.notes.js").write_text("function (doc, oldDoc) { channel('!'); }")  # public, any writer
    result, out = _run(tmp_path, sg_binary, SHOP, "--sync-function", str(functions))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "THRESHOLD FAILED: oracle_findings" in result.stdout
    listed = json.loads((out / "oracle-findings.json").read_text())["listed"]
    leaks = [f for f in listed if f["kind"] == "leak"]
    assert leaks and all(f["doc"].startswith("shop.notes/") for f in leaks), listed[:5]
    # Notes and shares routed public; the notes collection's unknown types too (its function accepts them).
    assert {f["rule"] for f in leaks} <= {"note.channels", "share.channels", "type.channels"}
    assert any(f["rule"] == "note.channels" for f in leaks)
    accepted = {f["rule"] for f in listed if f["kind"] == "write_accepted"}
    assert "note.require_user({owner})" in accepted or "type" in accepted


def test_a_sync_function_file_for_a_collections_scenario_is_a_usage_error(tmp_path: Path, sg_binary: Path) -> None:
    single = tmp_path / "one.js"
    single.write_text("function (doc) { channel(doc.channels); }")
    result, _ = _run(tmp_path, sg_binary, SHOP, "--sync-function", str(single))
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "shop.orders.js, shop.notes.js" in result.stderr


def test_a_scenario_listing_its_collections(tmp_path: Path, sg_binary: Path) -> None:
    result, out = _run(tmp_path, sg_binary, 'collections = ["app.profiles", "app.notes"]\n' + SMALL)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verify_problems"] == [] and summary["final_sync_failures"] == []
    assert summary["figures"]["pull_docs_per_s"] > 0 and summary["push"]["delivered"] > 0
    acknowledged = [doc for path in out.glob("worker-*.json")
                    for _, doc, _ in json.loads(path.read_text())["acknowledged"]]
    assert {doc.split("/")[0] for doc in acknowledged} == {"app.profiles", "app.notes"}


def test_a_backend_with_a_legacy_config_is_a_usage_error(tmp_path: Path, sg_binary: Path) -> None:
    result, _ = _run(tmp_path, sg_binary, SHOP, "--backend", "docker")
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "has named collections (shop.orders, shop.notes)" in result.stderr
