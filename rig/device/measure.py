"""What a fleet run measures: every wake, every document arrival, every push delay."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from rig.replicator.clients import RELEASES


@dataclass(frozen=True, slots=True)
class WakeMeasurement:
    device: str
    profile: str
    trigger: str
    started_wall: float
    wake_to_caught_up_s: float | None
    """Real seconds (budgets and network are never scaled); None when the wake did not finish."""
    docs_pulled: int
    docs_pushed: int
    overrun: bool
    push_delay_s: float | None = None
    """Webhook received -> push delivered, real seconds."""
    retries: int = 0
    """Attempts started again after a transient error (gateway down, link cut) within this wake."""
    cbl: str = ""
    """The Couchbase Lite release the device behaves as ("" in records written before releases)."""


@dataclass(frozen=True, slots=True)
class Arrival:
    doc_id: str
    device: str
    user: str
    write_to_arrival_s: float
    """Real seconds between the write (the document's `written_at`) and its arrival on the device."""
    phase: str
    """`awake`: arrived while the app ran (foreground replication); `after_wake`: pulled by a background wake."""
    cbl: str = ""
    """The Couchbase Lite release of the device it arrived on."""


_WRITTEN_AT = b'"written_at"'
_VALUE_AFTER_KEY = re.compile(rb'\s*:\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*[,}]')


def written_at(body: bytes) -> float | None:
    """The top-level ``written_at`` (Unix seconds, a number) of a pulled JSON body; None without one.

    Called for every document a device pulls during `rig run`, so the usual case is read without
    parsing the body: an object naming the key once, with no ``{`` before it (so not nested) and
    no backslash right before it (so not inside a string, where JSON escapes quotes), followed by a
    number. Anything else is parsed with json, so the answer is always the top-level key's.
    """
    at = body.find(_WRITTEN_AT)
    if at < 0:
        return None
    if body[:1] == b"{" and body.find(b"{", 1, at) < 0 and body[at - 1] != 0x5C \
            and body.find(_WRITTEN_AT, at + len(_WRITTEN_AT)) < 0:
        match = _VALUE_AFTER_KEY.match(body, at + len(_WRITTEN_AT))
        if match is not None:
            return float(match.group(1))
    try:
        value = json.loads(body).get("written_at")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def release_order(names: Any) -> list[str]:
    """Release names in the rig's order (3.3, 3.4, 4.1), anything else (e.g. "" from old records) after."""
    known = list(RELEASES)
    return sorted(set(names), key=lambda name: (known.index(name) if name in known else len(known), name))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass(slots=True)
class Measurements:
    time_scale: float = 1.0
    wakes: list[WakeMeasurement] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    listeners: list[Callable[[WakeMeasurement | Arrival], None]] = field(default_factory=list)
    """Told of every measurement as it is made (metrics, locust statistics)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_wake(self, wake: WakeMeasurement) -> None:
        with self._lock:
            self.wakes.append(wake)
        for listener in self.listeners:
            listener(wake)

    def add_arrival(self, arrival: Arrival) -> None:
        with self._lock:
            self.arrivals.append(arrival)
        for listener in self.listeners:
            listener(arrival)

    def summary(self) -> dict[str, Any]:
        """Figures by wake trigger and arrival phase; each says whether it is scaled."""
        with self._lock:
            wakes, arrivals = list(self.wakes), list(self.arrivals)
        by_trigger: dict[str, Any] = {}
        for trigger in sorted({w.trigger for w in wakes}):
            group = [w for w in wakes if w.trigger == trigger]
            durations = [w.wake_to_caught_up_s for w in group if w.wake_to_caught_up_s is not None]
            delays = [w.push_delay_s for w in group if w.push_delay_s is not None]
            by_trigger[trigger] = {
                "wakes": len(group), "overruns": sum(w.overrun for w in group),
                "docs_pulled": sum(w.docs_pulled for w in group), "docs_pushed": sum(w.docs_pushed for w in group),
                "wake_to_caught_up_s_real": {f"p{q}": percentile(durations, q) for q in (50, 95, 99)},
                "push_delay_s_real": {f"p{q}": percentile(delays, q) for q in (50, 95, 99)} if delays else None,
            }
        by_phase: dict[str, Any] = {}
        for phase in sorted({a.phase for a in arrivals}):
            latencies = [a.write_to_arrival_s for a in arrivals if a.phase == phase]
            by_phase[phase] = {"arrivals": len(latencies),
                               "write_to_arrival_s_real": {f"p{q}": percentile(latencies, q) for q in (50, 95, 99)}}
        return {"time_scale": self.time_scale,
                "note": "OS intervals (refresh gaps, sessions, kill hazards) ran compressed by time_scale; "
                        "every *_real figure is in real seconds, unscaled",
                "wakes_by_trigger": by_trigger, "arrivals_by_phase": by_phase,
                "by_release": by_release(wakes, arrivals)}

    def as_records(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {"wakes": [asdict(w) for w in self.wakes], "arrivals": [asdict(a) for a in self.arrivals]}


def by_release(wakes: list[WakeMeasurement], arrivals: list[Arrival]) -> dict[str, Any]:
    """Wakes, documents moved by wakes and write-to-arrival latencies per Couchbase Lite release."""
    result: dict[str, Any] = {}
    for cbl in release_order([w.cbl for w in wakes] + [a.cbl for a in arrivals]):
        group = [w for w in wakes if w.cbl == cbl]
        durations = [w.wake_to_caught_up_s for w in group if w.wake_to_caught_up_s is not None]
        latencies = [a.write_to_arrival_s for a in arrivals if a.cbl == cbl]
        result[cbl or "unknown"] = {
            "wakes": len(group), "overruns": sum(w.overrun for w in group),
            "wake_docs_pulled": sum(w.docs_pulled for w in group),
            "wake_docs_pushed": sum(w.docs_pushed for w in group),
            "wake_to_caught_up_s_real": {f"p{q}": percentile(durations, q) for q in (50, 95, 99)},
            "arrivals": len(latencies),
            "write_to_arrival_s_real": {f"p{q}": percentile(latencies, q) for q in (50, 95, 99)}}
    return result
