"""The status line of a run while it goes: elapsed of duration, devices by state, documents per
second pushed and pulled, errors so far. On a terminal one live line rewritten in place every
couple of seconds; otherwise (a pipe, a CI log) a plain line every ten seconds. No locust here."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

_SHORT = {"foreground": "fg", "background": "bg", "suspended": "susp", "awake": "awake",
          "terminated": "term", "force_quit": "quit"}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the run's processes counted so far (cumulative documents; None when not known here)."""

    states: dict[str, int] = field(default_factory=dict)
    pulled: float | None = None
    pushed: float | None = None
    errors: int = 0


def status_line(elapsed: float, duration: float, now: Snapshot, before: Snapshot | None, interval: float) -> str:
    """One line: `[ 12/60 s] devices 300 (fg 41, susp 250, awake 9) | push 3.1 docs/s pull 20.4 docs/s | errors 0`."""
    states = ", ".join(f"{_SHORT.get(k, k)} {v}" for k, v in sorted(now.states.items(), key=lambda kv: -kv[1]) if v)
    devices = f"[{elapsed:4.0f}/{duration:.0f} s] devices {sum(now.states.values())}"
    parts = [devices + (f" ({states})" if states else "")]

    def rate(name: str) -> str:
        value = getattr(now, name)
        if value is None or before is None:
            return "-"
        return f"{max(0.0, value - (getattr(before, name) or 0.0)) / interval:.1f} docs/s"

    if now.pulled is not None or now.pushed is not None:
        parts.append(f"push {rate('pushed')} pull {rate('pulled')}")
    parts.append(f"errors {now.errors}")
    return " | ".join(parts)


class _AroundStatus:
    """sys.stdout or sys.stderr while a live status line shows: other output clears the status
    line first and redraws it after each complete line, so log lines never glue onto it."""

    def __init__(self, target: TextIO, progress: Progress) -> None:
        self._target = target
        self._progress = progress

    def write(self, text: str) -> int:
        with self._progress.lock:
            if self._progress.shown:
                self._progress.stream.write("\r\x1b[K")
                self._progress.shown = False
            self._target.write(text)
            if text.endswith("\n") and self._progress.lines:
                self._target.flush()
                self._progress.stream.write(self._progress.lines[-1])
                self._progress.shown = True
            self._target.flush()
            self._progress.stream.flush()
        return len(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._target, name)


class Progress:
    """Prints `status_line` until stopped: live on a TTY (`live_every` s), plain lines otherwise."""

    def __init__(self, snapshot: Callable[[], Snapshot], duration: float, *, stream: TextIO | None = None,
                 live_every: float = 2.0, plain_every: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._snapshot = snapshot
        self._duration = duration
        self._stream = stream or sys.stdout
        self._live = self._stream.isatty()
        self._every = live_every if self._live else plain_every
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved: tuple[TextIO, TextIO] | None = None
        self.lines: list[str] = []
        self.lock = threading.RLock()
        self.shown = False
        """The live status line is on the screen, the cursor at its end."""

    @property
    def stream(self) -> TextIO:
        return self._stream

    def start(self) -> None:
        if self._live and self._stream is sys.stdout:
            self._saved = (sys.stdout, sys.stderr)
            sys.stdout = _AroundStatus(sys.stdout, self)
            sys.stderr = _AroundStatus(sys.stderr, self)
        self._thread = threading.Thread(target=self._loop, name="rig-progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        started = self._clock()
        before: Snapshot | None = None
        try:
            before = self._snapshot()  # so that the first line has rates too
        except Exception:  # progress must never break a run
            before = None
        while not self._stop.wait(self._every):
            try:
                now = self._snapshot()
            except Exception as exc:  # progress must never break a run
                now = Snapshot(errors=-1)
                self.lines.append(f"(progress unavailable: {exc})")
            self.show(status_line(self._clock() - started, self._duration, now, before, self._every))
            before = now

    def show(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)
            if self._live:
                self._stream.write("\r\x1b[K" + line)
                self.shown = True
            else:
                self._stream.write(line + "\n")
            self._stream.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
        with self.lock:
            if self.shown:
                self._stream.write("\n")
                self._stream.flush()
                self.shown = False
