"""Pure parts of the fault work: Couchbase Lite's retry policy, fault schedules, the durability oracle."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rig._errors import (
    AuthenticationRejected,
    ConfigError,
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    ReadTimeout,
    RemoteBlipError,
    SubprotocolRejected,
)
from rig.faults.gateway import Fault, FaultInjector, apply, parse_fault, parse_schedule
from rig.oracle.acknowledged import AckedWrite, RevTree, check_acknowledged
from rig.replicator.retry import RetryPolicy, is_transient

# Retry ------------------------------------------------------------------------------------


def test_backoff_doubles_from_two_seconds_and_pins_at_five_minutes() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n) for n in range(1, 10)] == [2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert policy.delay(40) == 300


def test_one_shot_gives_up_after_nine_retries_continuous_never() -> None:
    error = ConnectError("refused")
    one_shot, continuous = RetryPolicy(), RetryPolicy(continuous=True)
    assert one_shot.next_delay(0, error) == 2
    assert one_shot.next_delay(8, error) == 300  # the ninth retry: 2**9 s, pinned at 300
    assert one_shot.next_delay(9, error) is None
    assert continuous.next_delay(1000, error) == 300
    assert RetryPolicy(max_retries=1).next_delay(1, error) is None


@pytest.mark.parametrize(("error", "transient"), [
    (ConnectError("refused"), True),
    (ReadTimeout("silence"), True),
    (ConnectionClosed("gone", code=1001), False),  # LiteCore: the gateway went away, the replicator stops
    (ConnectionClosed("eof", code=None), True),
    (ConnectionClosed("policy", code=1008), False),
    (HandshakeRejected("db offline", status=503, body=""), True),
    (HandshakeRejected("no db", status=404, body=""), False),
    (AuthenticationRejected("bad password", status=401, body=""), False),
    (SubprotocolRejected("old gateway", status=400, body=""), False),
    (RemoteBlipError("garbage"), False),
    (ValueError("bug"), False),
])
def test_only_errors_couchbase_lite_deems_transient_are_retried(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient
    assert (RetryPolicy().next_delay(0, error) is not None) is transient


# Fault schedules ----------------------------------------------------------------------------


def test_fault_specs_parse_with_default_down_times() -> None:
    assert parse_fault("kill@20+5") == Fault("kill", 20.0, 5.0)
    assert parse_fault("pause@7.5") == Fault("pause", 7.5, 5.0)
    assert parse_fault(" restart@30 ") == Fault("restart", 30.0, 0.0)
    assert str(parse_fault("kill@20+5")) == "kill@20+5"


@pytest.mark.parametrize("text", ["kil@20", "kill", "kill@x", "kill@-1", "pause@10+", "@10"])
def test_a_bad_fault_spec_names_the_option_and_the_grammar(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--fault: .* is not a fault; write KIND@SECONDS"):
        parse_fault(text)


def test_schedules_accept_strings_and_tables_and_name_the_bad_entry() -> None:
    faults = parse_schedule(["restart@30", {"kind": "pause", "at_s": 5, "down_s": 2}], where="faults.toml:faults")
    assert faults == [Fault("pause", 5.0, 2.0), Fault("restart", 30.0, 0.0)]
    with pytest.raises(ConfigError, match=r"faults.toml:faults\[1\]\.kind: 'explode'"):
        parse_schedule(["kill@1", {"kind": "explode", "at_s": 1}], where="faults.toml:faults")
    with pytest.raises(ConfigError, match=r"\[0\]: at_s and down_s must be numbers"):
        parse_schedule([{"kind": "kill", "at_s": "soon"}], where="x")


class _Recorder:
    """Stands in for a controller in these scheduling tests only: records calls, may fail one."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail_on = fail_on

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_on:
            raise RuntimeError(f"{name} failed")

    def kill(self) -> None:
        self._call("kill")

    def start(self) -> None:
        self._call("start")

    def restart(self) -> None:
        self._call("restart")

    def pause(self) -> None:
        self._call("pause")

    def unpause(self) -> None:
        self._call("unpause")

    def wait_ready(self, timeout: float = 60.0) -> None:
        self._call("wait_ready")


def test_each_fault_does_its_calls_in_order_and_measures_the_outage() -> None:
    clock = iter([100.0, 107.0, 200.0, 203.5, 300.0, 301.0])
    slept: list[float] = []
    target = _Recorder()
    kill = apply(target, Fault("kill", 0, 5), sleep=slept.append, wall=lambda: next(clock))
    pause = apply(target, Fault("pause", 0, 3), sleep=slept.append, wall=lambda: next(clock))
    restart = apply(target, Fault("restart", 0), sleep=slept.append, wall=lambda: next(clock))
    assert target.calls == ["kill", "start", "pause", "unpause", "wait_ready", "restart"]
    assert slept == [5, 3]
    assert (kill.seconds, pause.seconds, restart.seconds) == (7.0, 3.5, 1.0)


def test_a_failing_fault_is_recorded_never_raised() -> None:
    outage = apply(_Recorder(fail_on="start"), Fault("kill", 0, 0), sleep=lambda s: None)
    assert outage.ended_at is None and outage.seconds is None
    assert outage.error == "RuntimeError: start failed"


def test_the_injector_runs_due_faults_and_skips_those_after_stop() -> None:
    target = _Recorder()
    injector = FaultInjector(target, [Fault("restart", 0.0), Fault("restart", 3600.0)], log=lambda s: None)
    injector.start()
    for _ in range(200):
        if injector.outages:
            break
        time.sleep(0.01)
    outages = injector.stop(timeout=5)
    assert [o.fault for o in outages] == ["restart@0"]
    assert target.calls == ["restart"]


# Durability oracle ----------------------------------------------------------------------------


def _tree(*revs: tuple[str, int], deleted: frozenset[int] = frozenset()) -> RevTree:
    return RevTree(tuple(r for r, _ in revs), tuple(p for _, p in revs), deleted)


def test_an_acknowledged_revision_must_be_in_the_tree_current_or_ancestor() -> None:
    trees = {"a": _tree(("1-x", -1), ("2-y", 0)), "b": _tree(("1-z", -1)), "gone": None}
    acked = [AckedWrite("d1", "a", "1-x"), AckedWrite("d1", "a", "2-y"), AckedWrite("d2", "b", "1-LOST"),
             AckedWrite("d2", "gone", "1-q"), AckedWrite("d1", "a", "2-y")]
    report = check_acknowledged(acked, trees)
    assert report.checked == 4
    assert report.acknowledged_twice == 1
    assert report.lost == ["lost: b 1-LOST acknowledged to d2", "lost: gone 1-q acknowledged to d2"]
    assert report.duplicated == []


def test_two_live_branches_are_a_duplicated_write_a_tombstoned_branch_is_not() -> None:
    forked = _tree(("1-a", -1), ("2-b", 0), ("2-c", 0))
    resolved = _tree(("1-a", -1), ("2-b", 0), ("2-c", 0), deleted=frozenset({2}))
    report = check_acknowledged([AckedWrite("d", "f", "2-b"), AckedWrite("d", "r", "2-b")],
                                {"f": forked, "r": resolved})
    assert report.duplicated == ["duplicated: f has 2 live branches ['2-b', '2-c']"]
    assert report.as_dict()["duplicated"] == 1 and report.as_dict()["lost"] == 0


def test_rev_tree_reads_sync_gateway_history() -> None:
    sync = {"history": {"revs": ["1-a", "2-b", "3-c"], "parents": [-1, 0, 1], "deleted": [2]}}
    tree = RevTree.from_sync(sync)
    assert tree.leaves() == [2]
    assert tree.live_leaves() == []


# Reconnect waits per outage -------------------------------------------------------------------------


def test_each_outage_reports_the_reconnect_waits_of_the_retries_it_caused(tmp_path: Path) -> None:
    import json

    from rig.device.measure import Measurements
    from rig.faults.gateway import Outage
    from rig.load.durability import outage_costs, retry_rows

    kill = Outage("kill@10+3", "kill", began_at=1000.0, ended_at=1004.0)
    later = Outage("kill@60+3", "kill", began_at=1100.0, ended_at=1104.0)
    (tmp_path / "worker-0.json").write_text(json.dumps({"retry_delays": [
        ["a", 1000.1, 1, 2.0, "WebSocket 1006"], ["a", 1002.2, 2, 4.0, "POSIX 111"],
        ["b", 1000.2, 1, 2.0, "WebSocket 1006"],
        ["a", 1100.1, 1, 2.0, "WebSocket 1006"]]}))  # the count began again after a's reconnect
    (tmp_path / "worker-1.json").write_text(json.dumps({"retry_delays": [["c", 1003.0, 1, 2.0, "POSIX 111"]]}))
    first, second = outage_costs([kill, later], Measurements(), retry_rows(tmp_path))
    reconnects = first["reconnects"]
    assert reconnects["retries"] == 4
    assert reconnects["by_attempt"] == {"1": 3, "2": 1}
    assert reconnects["delay_s"]["max"] == 4.0 and reconnects["delay_s"]["p50"] == 2.0
    assert reconnects["devices"] == {"a": [2.0, 4.0], "b": [2.0], "c": [2.0]}
    assert reconnects["errors"] == {"WebSocket 1006": 2, "POSIX 111": 2}
    assert second["reconnects"]["devices"] == {"a": [2.0]} and second["reconnects"]["by_attempt"] == {"1": 1}
    assert outage_costs([kill], Measurements())[0]["reconnects"]["retries"] == 0
