"""Only the load layer imports locust (and with it gevent's monkey-patching)."""

from __future__ import annotations

import subprocess
import sys

LAYERS = ["rig.blip", "rig.transport", "rig.replicator", "rig.device", "rig.gateway", "rig.push", "rig.metrics",
          "rig.oracle", "rig.bench.replicate", "rig.load.scenario", "rig.load.results", "rig.cli"]


def test_nothing_outside_rig_load_imports_locust_or_gevent() -> None:
    code = ("import importlib, sys\n"
            f"for name in {LAYERS!r}: importlib.import_module(name)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_pure_layers_import_no_sockets_or_http() -> None:
    code = ("import importlib, sys\n"
            "for name in ('rig.blip', 'rig.replicator.replicator', 'rig.device.lifecycle', 'rig.oracle'):\n"
            "    importlib.import_module(name)\n"
            "print(','.join(sorted(m for m in ('httpx', 'prometheus_client', 'locust') "
            "if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
