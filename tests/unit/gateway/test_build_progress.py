"""The Sync Gateway build shows progress: each package with the elapsed time, and a line while
the compiler is silent (cgo packages take a minute)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from rig.gateway.build import _stream


def _slow_output() -> Iterator[str]:
    yield "github.com/couchbase/sync_gateway/base\n"
    time.sleep(0.35)
    yield "github.com/couchbase/sync_gateway/db\n"


def test_every_package_is_shown_and_a_silent_compiler_still_shows_progress() -> None:
    shown: list[str] = []
    output = _stream(_slow_output(), time.monotonic(), shown.append, quiet_s=0.1)
    assert output == ["github.com/couchbase/sync_gateway/base", "github.com/couchbase/sync_gateway/db"]
    assert shown[0].endswith("s] github.com/couchbase/sync_gateway/base")
    waiting = [line for line in shown if "still building" in line]
    assert len(waiting) >= 2
    assert all(line.endswith("(last started: github.com/couchbase/sync_gateway/base)") for line in waiting)
    assert shown[-1].endswith("s] github.com/couchbase/sync_gateway/db")


def test_a_fast_build_prints_no_waiting_lines() -> None:
    shown: list[str] = []
    _stream(iter(["a\n", "b\n"]), time.monotonic(), shown.append, quiet_s=5)
    assert [line.split("] ")[1] for line in shown] == ["a", "b"]
