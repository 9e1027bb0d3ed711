"""The run's status line: its content, live on a terminal, plain periodic lines in a pipe."""

from __future__ import annotations

import io
import sys
import time

import pytest

from rig.load.progress import Progress, Snapshot, status_line


def test_the_line_shows_elapsed_devices_by_state_rates_and_errors() -> None:
    before = Snapshot({"foreground": 40, "suspended": 260}, pulled=100.0, pushed=10.0, errors=0)
    now = Snapshot({"foreground": 41, "suspended": 250, "awake": 9}, pulled=304.0, pushed=41.0, errors=2)
    assert status_line(12.3, 60, now, before, 10.0) == \
        "[  12/60 s] devices 300 (susp 250, fg 41, awake 9) | push 3.1 docs/s pull 20.4 docs/s | errors 2"
    assert status_line(2, 60, now, None, 10.0).endswith("push - pull - | errors 2")
    master = Snapshot({"users": 30}, errors=1)
    assert status_line(2, 60, master, None, 2.0) == "[   2/60 s] devices 30 (users 30) | errors 1"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(stream: io.StringIO, **every: float) -> Progress:
    counts = iter(range(100))
    progress = Progress(lambda: Snapshot({"foreground": 3}, pulled=float(next(counts) * 10), pushed=0.0),
                        60, stream=stream, **every)
    progress.start()
    time.sleep(0.35)
    progress.stop()
    return progress


def test_in_a_pipe_each_status_is_a_plain_line() -> None:
    out = io.StringIO()
    progress = _run(out, plain_every=0.1)
    assert len(progress.lines) >= 2
    assert out.getvalue().splitlines() == progress.lines and "\r" not in out.getvalue()
    assert "pull 100.0 docs/s" in progress.lines[0] and "pull 100.0 docs/s" in progress.lines[1]


def test_on_a_terminal_one_line_is_rewritten_in_place() -> None:
    out = _Tty()
    progress = _run(out, live_every=0.1)
    text = out.getvalue()
    assert len(progress.lines) >= 2
    assert text.count("\r\x1b[K") == len(progress.lines) and text.count("\n") == 1 and text.endswith("\n")


def test_other_output_on_a_terminal_never_glues_onto_the_status_line(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _Tty()
    monkeypatch.setattr(sys, "stdout", out)
    progress = Progress(lambda: Snapshot({"foreground": 3}), 60, live_every=0.05)
    progress.start()
    time.sleep(0.2)
    print("fault: kill@5+3 ...")
    time.sleep(0.1)
    progress.stop()
    assert sys.stdout is out
    text = out.getvalue()
    # The log line starts on a cleared line and the status line is drawn again after it.
    before, after = text.split("fault: kill@5+3 ...\n")
    assert before.endswith("\r\x1b[K") and after.startswith("[")
    assert text.endswith("\n")
