"""Only the load layer imports locust (and with it gevent's monkey-patching); no import runs back up
the layers; no import cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


# Each package may import only packages of a lower rank (lazy imports inside functions and
# TYPE_CHECKING blocks included: they run back up the layers all the same).
RANKS = {
    "rig._errors": 0, "rig._collections": 0, "rig._paths": 1, "rig._distributions": 0, "rig._push_policy": 1,
    "rig.blip": 2, "rig.oracle": 2, "rig.gateway": 2, "rig.transport": 2,
    "rig.replicator": 3, "rig.faults": 3, "rig.image": 3,
    "rig.push": 4, "rig.device": 5, "rig.metrics": 6, "rig.conformance": 6, "rig.runfiles": 6,
    "rig.report": 7, "rig.load": 8, "rig.bench": 9, "rig.release": 9, "rig.cli": 10, "rig.__main__": 11,
}
ROOT = Path(__file__).resolve().parents[2]


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the rig modules it imports anywhere in its text."""
    graph: dict[str, set[str]] = {}
    for path in sorted((root / "rig").rglob("*.py")):
        name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("rig."))
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("rig."):
                found.add(str(node.module))
        graph[name] = found
    return graph


def package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def upward_imports(graph: dict[str, set[str]], ranks: dict[str, int]) -> list[str]:
    bad = []
    for module, imported in graph.items():
        for target in imported:
            a, b = package(module), package(target)
            if a != b and (a not in ranks or b not in ranks or ranks[b] >= ranks[a]):
                bad.append(f"{module} -> {target}")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles between modules (a package's __init__ counts as a module), by depth-first search."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in graph:
                continue
            if state.get(target) == 1:
                found.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_import_runs_back_up_the_layers() -> None:
    assert upward_imports(import_graph(ROOT), RANKS) == []


def test_no_import_cycle_between_modules() -> None:
    graph = import_graph(ROOT)
    # A package's __init__ re-exporting its modules is not a cycle with them (`from rig.cli import x`
    # in rig.cli imports the submodule).
    graph = {m: {t for t in ts if t != m and not (m.startswith(t + ".") and t in graph)} for m, ts in graph.items()}
    assert cycles(graph) == []


def test_an_upward_import_and_a_cycle_are_caught() -> None:
    graph = {"rig.report.data": {"rig.load.results"}, "rig.load.results": {"rig.device.measure"},
             "rig.load.a": {"rig.load.b"}, "rig.load.b": {"rig.load.a"}, "rig.device.measure": set()}
    assert upward_imports(graph, {"rig.report": 7, "rig.load": 8, "rig.device": 5}) == \
        ["rig.report.data -> rig.load.results"]
    assert cycles(graph) == [["rig.load.a", "rig.load.b", "rig.load.a"]]
    assert upward_imports({"rig.new.x": {"rig.device.y"}}, {"rig.device": 5}) == ["rig.new.x -> rig.device.y"]
