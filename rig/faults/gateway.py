"""Gateway faults during a run, on a schedule: restart, kill -9 then start, pause for N seconds,
off its network for N seconds.

Both backends offer the same calls: signals for `local` (SIGKILL, SIGSTOP/SIGCONT
to the process group), the container engine for `docker` (kill, pause/unpause, network
disconnect/connect). `netdown` needs a target with `disconnect_network`/`reconnect_network`:
a `DockerGateway`, or for `local` the device links of `rig run` (`rig.faults.netdown`). A
schedule is a list of `Fault`s written `kind@at[+seconds]` (`kill@20+5`: at 20 s into
the run, kill -9, wait 5 s, start again; `pause@10+8`; `netdown@15+3`; `restart@30`).
Each fault becomes an `Outage`: when it began, when the gateway answered again, and what failed.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from rig._errors import ConfigError, GatewayUnsupported

KINDS = ("restart", "kill", "pause", "netdown")
_SPEC = re.compile(r"^(?P<kind>[a-z]+)@(?P<at>\d+(?:\.\d+)?)(?:\+(?P<down>\d+(?:\.\d+)?))?$")
DEFAULT_DOWN_S = {"restart": 0.0, "kill": 3.0, "pause": 5.0, "netdown": 5.0}


class FaultTarget(Protocol):
    def kill(self) -> None: ...

    def start(self) -> None: ...

    def restart(self) -> None: ...

    def pause(self) -> None: ...

    def unpause(self) -> None: ...

    def wait_ready(self, timeout: float = 60.0) -> None: ...


@runtime_checkable
class NetworkTarget(Protocol):
    """A gateway that can be taken off its network (netdown): DockerGateway, or `rig.faults.netdown`'s switch."""

    def disconnect_network(self) -> object: ...

    def reconnect_network(self, timeout: float = 60.0) -> None: ...


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    at_s: float
    """Real seconds after the run's devices started."""
    down_s: float = 0.0
    """kill: seconds dead before the start; pause: seconds frozen; netdown: seconds off the network;
    restart: unused."""

    def __str__(self) -> str:
        return f"{self.kind}@{self.at_s:g}" + (f"+{self.down_s:g}" if self.kind != "restart" else "")


def parse_fault(text: str, *, where: str = "--fault") -> Fault:
    match = _SPEC.match(text.strip())
    if match is None or match["kind"] not in KINDS:
        raise ConfigError(f"{where}: {text!r} is not a fault; write KIND@SECONDS[+DOWN_SECONDS] "
                          f"with KIND one of {', '.join(KINDS)} (e.g. kill@20+5, pause@10+8, netdown@15+3, restart@30)")
    kind = match["kind"]
    down = float(match["down"]) if match["down"] else DEFAULT_DOWN_S[kind]
    return Fault(kind, float(match["at"]), down)


def parse_schedule(items: Sequence[Any], *, where: str) -> list[Fault]:
    """Faults from strings (`kill@20+5`) or tables ({kind, at_s, down_s}), sorted by time."""
    faults = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            faults.append(parse_fault(item, where=f"{where}[{index}]"))
            continue
        if not isinstance(item, dict) or set(item) - {"kind", "at_s", "down_s"} or "kind" not in item \
                or "at_s" not in item:
            raise ConfigError(f"{where}[{index}]: expected 'KIND@AT+DOWN' or a table with kind, at_s "
                              f"and optional down_s, got {item!r}")
        kind = item["kind"]
        if kind not in KINDS:
            raise ConfigError(f"{where}[{index}].kind: {kind!r} is not one of {', '.join(KINDS)}")
        try:
            at_s = float(item["at_s"])
            down_s = float(item.get("down_s", DEFAULT_DOWN_S[kind]))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}[{index}]: at_s and down_s must be numbers, got {item!r}") from None
        faults.append(Fault(kind, at_s, down_s))
    return sorted(faults, key=lambda f: f.at_s)


@dataclass(slots=True)
class Outage:
    fault: str
    kind: str
    began_at: float
    """Wall-clock time the fault hit."""
    ended_at: float | None = None
    """Wall-clock time the gateway answered again (None: it never did)."""
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.began_at

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": self.seconds}


def apply(target: FaultTarget, fault: Fault, *, sleep: Callable[[float], None] = time.sleep,
          wall: Callable[[], float] = time.time) -> Outage:
    """Do one fault now and wait until the gateway is back; errors are recorded, never raised."""
    outage = Outage(str(fault), fault.kind, wall())
    try:
        if fault.kind == "netdown":
            if not isinstance(target, NetworkTarget):
                raise GatewayUnsupported(f"{type(target).__name__} cannot take the gateway off its network")
            target.disconnect_network()
            try:
                sleep(fault.down_s)
            finally:
                target.reconnect_network()
        elif fault.kind == "kill":
            target.kill()
            sleep(fault.down_s)
            target.start()
        elif fault.kind == "pause":
            target.pause()
            sleep(fault.down_s)
            target.unpause()
            target.wait_ready()
        else:
            target.restart()
        outage.ended_at = wall()
    except Exception as exc:  # the run goes on and the report says what failed
        outage.error = f"{type(exc).__name__}: {exc}"
    return outage


class FaultInjector:
    """Runs a schedule against a gateway in a background thread (a greenlet under locust)."""

    def __init__(self, target: FaultTarget, faults: Sequence[Fault], *, log: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        self.faults = sorted(faults, key=lambda f: f.at_s)
        self.outages: list[Outage] = []
        self._log = log
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.before: list[Callable[[Fault], None]] = []
        """Called just before each fault (a kill loses the gateway's counters: sample them first)."""

    def start(self) -> None:
        if not self.faults:
            return
        started = self._clock()
        self._thread = threading.Thread(target=self._run, args=(started,), name="fault-injector", daemon=True)
        self._thread.start()

    def _run(self, started: float) -> None:
        for fault in self.faults:
            if self._stop.wait(max(0.0, started + fault.at_s - self._clock())):
                return
            self._log(f"fault: {fault} ...")
            for call in self.before:
                call(fault)
            outage = apply(self.target, fault)
            self.outages.append(outage)
            back = "never came back" if outage.seconds is None else f"back after {outage.seconds:.1f} s"
            self._log(f"fault: {fault}: gateway {back}" + (f" ({outage.error})" if outage.error else ""))

    def stop(self, timeout: float = 120.0) -> list[Outage]:
        """Skip faults not yet due, wait for one in progress (the gateway must be up again), return the outages."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self.outages
