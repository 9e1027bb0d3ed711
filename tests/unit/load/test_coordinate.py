"""The master's side of the worker protocol, on a recording stand-in for locust's MasterRunner (messages only;
the real master and workers run in tests/load and tests/docker)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import rig.load.coordinate as coordinate_module
from rig._errors import RigError
from rig.load.coordinate import BARRIER, FAILED, GO, HELLO, NETDOWN, RESULT, Coordinator


class Runner:
    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}
        self.sent: list[tuple[str, Any, str | None]] = []

    def register_message(self, kind: str, handler: Any, concurrent: bool = False) -> None:
        self.handlers[kind] = handler

    def send_message(self, kind: str, data: Any = None, client_id: str | None = None) -> None:
        self.sent.append((kind, data, client_id))

    def deliver(self, kind: str, node: str, data: Any) -> None:
        self.handlers[kind](environment=None, msg=SimpleNamespace(node_id=node, data=data))


def _hello(runner: Runner, node: str, hint: int | None = None) -> None:
    runner.deliver(HELLO, node, {"host": f"10.0.0.{len(runner.handlers)}", "bind_host": "0.0.0.0",
                                 "push_port": 8090, "metrics_port": 9464, "index_hint": hint})


@pytest.fixture(autouse=True)
def _no_gevent_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coordinate_module.gevent, "sleep", lambda seconds: None)


def test_workers_are_indexed_by_hint_then_arrival_and_barriers_release_all_at_once(tmp_path: Path) -> None:
    runner = Runner()
    coordinator = Coordinator(runner, 3, tmp_path, log=lambda *_: None)
    _hello(runner, "apart-a")
    _hello(runner, "local-1", hint=1)
    _hello(runner, "apart-b")
    workers = coordinator.wait_for_workers(timeout=1)
    assert [(w.index, w.node_id) for w in workers] == [(0, "apart-a"), (1, "local-1"), (2, "apart-b")]

    runner.deliver(BARRIER, "apart-a", {"step": "pushed-0"})
    runner.deliver(BARRIER, "local-1", {"step": "pushed-0"})
    assert [m for m in runner.sent if m[0] == GO] == []
    runner.deliver(BARRIER, "apart-b", {"step": "pushed-0"})
    assert sorted(m[2] for m in runner.sent if m[0] == GO) == ["apart-a", "apart-b", "local-1"]

    runner.deliver(RESULT, "local-1", {"index": 1, "result": {"devices": 7}})
    assert json.loads((tmp_path / "worker-1.json").read_text()) == {"devices": 7}


def test_missing_workers_and_failed_workers_are_errors_naming_them(tmp_path: Path) -> None:
    runner = Runner()
    coordinator = Coordinator(runner, 2, tmp_path, log=lambda *_: None)
    _hello(runner, "only-one")
    with pytest.raises(RigError, match=r"2 worker\(s\) to connect \(connected: 1\)"):
        coordinator.wait_for_workers(timeout=0)
    runner.deliver(FAILED, "only-one", {"error": "scenario not found"})
    with pytest.raises(RigError, match="worker only-one: scenario not found"):
        coordinator.wait_for_workers(timeout=5)
    broken = Coordinator(Runner(), 1, tmp_path, log=lambda *_: None)
    _hello(broken.runner, "silent")
    broken.wait_for_workers(timeout=1)
    assert broken.finish(verify=True, timeout=0) == [
        "worker 0 (silent): timed out after 0 s waiting for the workers' results"]


def test_a_netdown_reaches_every_worker_down_then_up(tmp_path: Path) -> None:
    runner = Runner()
    coordinator = Coordinator(runner, 2, tmp_path, log=lambda *_: None)
    _hello(runner, "apart-a")
    _hello(runner, "local-1", hint=1)
    coordinator.wait_for_workers(timeout=1)
    coordinator.netdown(True)
    coordinator.netdown(False)
    sent = [(data["down"], node) for kind, data, node in runner.sent if kind == NETDOWN]
    assert sorted(sent[:2]) == [(True, "apart-a"), (True, "local-1")]
    assert sorted(sent[2:]) == [(False, "apart-a"), (False, "local-1")]
