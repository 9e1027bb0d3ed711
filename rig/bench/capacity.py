"""`rig bench capacity`: how many sleeping devices one Sync Gateway wakes and brings up to date
inside iOS's budget for a silent push (30 s), at p99, per gateway core.

Each step lays down a fleet of N devices (synced once, then asleep), writes a backlog of new
documents for each device's user, then sends N silent pushes at one instant: every device wakes,
runs the one-shot push and pull a woken app runs, and is killed at the budget as iOS kills it.
A device's catch-up time is from the push to the moment it holds every document of its backlog;
one killed first counts as over the budget. The storm grows (100, 500, 1000, then 1,000 apart) until
the p99 crosses the budget. Each worker process drives all its devices on one event loop, their
WebSockets opened on it too (`rig.bench.capacity_worker`), so one worker carries storms of thousands.

The gateway is pinned to its own core(s) and the devices run in worker processes on the others,
so the figure is per gateway core and the rig does not compete with it. A step in which a worker
saturated (`rig.metrics.saturation`) timed the rig: it is invalid and the bench stops, saying that
more workers (and cores for them) are needed, or, when only its loop lag was over (its CPU under the
threshold), that other work on the machine starved it of its core. Budgets are real seconds: the rig's time scale
compresses OS intervals (refresh gaps, sessions), never budgets, so it does not apply here.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rig.bench.capacity_worker import backlog_ids, serve
from rig.bench.cpu import process_cpu_seconds
from rig.device.measure import percentile
from rig.gateway import AdminClient, DatabaseSpec, LocalGateway
from rig.gateway.build import binary_version
from rig.load.results import machine
from rig.metrics.saturation import CPU_THRESHOLD, LAG_THRESHOLD_S, merge_summaries

DEFAULT_STEPS = (100, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000)
"""Coarse at first (small storms are quick), then 1,000 apart where one gateway core crossed the budget here
(between 3,200 and 6,400 devices, 2026-12-07): the whole chain fits the 10 minutes of the bench."""
GATEWAY_BUSY = 0.9
"""Of the gateway's cores, over the catch-up: at or above it the gateway's CPU was the bottleneck."""
PLATEAU = 1.1
"""A saturated gateway whose wakes per second grew less than this from the previous step has peaked."""
_DB = "capacity"


@dataclass(frozen=True, slots=True)
class Settings:
    steps: tuple[int, ...] = DEFAULT_STEPS
    budget_s: float = 30.0
    backlog: int = 10
    """New documents per device's user written before each storm."""
    doc_bytes: int = 1000
    workers: int = 1
    gateway_cores: int = 1
    """Cores the gateway is pinned to (0: not pinned, it shares every core with the rig)."""
    max_seconds: float = 540.0
    """No step starts that would end after this much wall time, its setup estimated from the last step's
    (the bench stays under 10 minutes)."""
    cpu_threshold: float = CPU_THRESHOLD
    lag_threshold_s: float = LAG_THRESHOLD_S


# Judging (pure) ------------------------------------------------------------------------------------


def catch_up_figures(catch_up: Sequence[float]) -> dict[str, float | None]:
    """p50, p90, p99 and max of the catch-up times; None where the quantile is over the budget."""
    def finite(value: float | None) -> float | None:
        return None if value is None or math.isinf(value) else round(value, 3)

    values = list(catch_up)
    return {f"p{q}": finite(percentile(values, q)) for q in (50, 90, 99)} | {"max": finite(max(values, default=None))}


def judge(steps: Sequence[dict[str, Any]], settings: Settings, gateway_cores: int) -> dict[str, Any]:
    """The verdict over the steps so far: the capacity, and why stepping stopped (None: go on).

    The gateway's CPU saturating does not stop the steps by itself: a storm keeps the gateway busy
    for as long as its queue lasts, and what matters to the phones is whether the queue drains inside
    the budget. It is stated (from which storm size the gateway was saturated and its wakes per
    second stopped growing), and gives the estimate used when the steps or the time run out first.
    """
    capacity, stopped, saturated_from, estimate = 0, None, None, None
    starved = False
    for index, step in enumerate(steps):
        if not step["valid"]:
            stopped = "rig_saturated"
            starved = bool(step.get("rig_starved"))
            break
        if not step["p99_within_budget"]:
            stopped = "budget"
            break
        capacity = step["devices"]
        before = steps[index - 1] if index else None
        if (saturated_from is None and step["gateway"]["saturated"] and before is not None
                and step["wakes_per_s"] < PLATEAU * before["wakes_per_s"]):
            saturated_from = step["devices"]
        if saturated_from is not None:
            estimate = int(step["wakes_per_s"] * settings.budget_s)
    if stopped is None and steps and len(steps) == len(settings.steps):
        stopped = "steps_exhausted"
    found = stopped == "budget"
    per_core = round(capacity / gateway_cores, 1) if gateway_cores else None
    # In a storm the devices finish nearly together once the gateway is the bottleneck (it shares its
    # CPU among them all), so the last one is done when the gateway has spent N x its CPU per wake:
    # budget / CPU per wake is the most one core can bring up to date, an upper estimate.
    costs = sorted(step["gateway"]["cpu_s_per_wake"] for step in steps if step["valid"] and step["caught_up"])
    cpu_per_wake: float | None = costs[len(costs) // 2] if costs else None
    ceiling = int(settings.budget_s / cpu_per_wake) if cpu_per_wake else None
    budget = f"{settings.budget_s:g} s"
    gateway = ("" if saturated_from is None else
               f"; the gateway's CPU was saturated from {saturated_from} devices on (its wakes per second stopped "
               f"growing), so about {estimate} devices would cross the budget (wakes per second x budget)")
    crossed = steps[-1]["devices"] if steps else 0
    texts = {
        "budget": (f"CAPACITY {capacity} devices ({per_core} per gateway core): the p99 catch-up crossed the "
                   f"{budget} budget at {crossed} devices" if capacity else
                   f"CAPACITY BELOW {settings.steps[0]} devices: the p99 catch-up crossed the {budget} budget at "
                   f"the first step") + (_bound(steps[-1], gateway_cores) if steps else ""),
        "rig_saturated": (f"INVALID: the rig saturated at {crossed} devices, so that step timed the rig; capacity "
                          f"is at least {capacity} devices. " +
                          ("The rig was starved of its core (loop lag with its CPU under the threshold): other "
                           "work on this machine held it; a quieter machine or more cores for the rig are needed"
                           if starved else "More workers (--workers) on more cores are needed")),
        "steps_exhausted": (f"CAPACITY AT LEAST {capacity} devices ({per_core} per gateway core): every step "
                            f"stayed inside the {budget} budget; add larger --steps"),
    }
    return {"capacity_devices": capacity, "gateway_cores": gateway_cores, "devices_per_gateway_core": per_core,
            "stopped_because": stopped, "found": found, "gateway_saturated_from": saturated_from,
            "estimate_devices": estimate, "gateway_cpu_s_per_wake": cpu_per_wake,
            "cpu_bound_devices_per_core": ceiling, "passed": found and capacity > 0,
            "text": texts.get(stopped or "", "") + gateway + ("" if ceiling is None or cpu_per_wake is None else
                    f". The gateway's CPU per wake ({cpu_per_wake * 1000:.1f} ms, median of the valid storms) puts "
                    f"one core's ceiling at about {ceiling} devices in {budget} (budget / CPU per wake)")}


def _bound(step: dict[str, Any], gateway_cores: int) -> str:
    """What bound the storm that crossed the budget: the gateway's CPU when it was busy to its cores."""
    gateway = step["gateway"]
    busiest = gateway["cores_busy_max_1s"]
    if gateway["saturated"] or (busiest is not None and busiest >= GATEWAY_BUSY * gateway_cores):
        return (f"; the gateway's CPU was the bound there ({gateway['cores_busy_mean']:.2f} of its {gateway_cores} "
                f"core(s) busy on average, {busiest if busiest is not None else '-'} in its busiest second)")
    return (f"; the gateway's CPU was not saturated there ({gateway['cores_busy_mean']:.2f} of its {gateway_cores} "
            f"core(s) on average, {busiest if busiest is not None else '-'} at most in a second): the bound was "
            f"elsewhere (its share of a core other work also used, its locks, its storage)")


def step_row(devices: int, budget: float, results: Sequence[dict[str, Any]], *, gateway_cpu_s: float,
             gateway_cores_busy_mean: float, gateway_cores_busy_max: float | None, gateway_cores: int,
             setup_s: float) -> dict[str, Any]:
    """One storm's figures from the workers' results and the gateway's CPU over the catch-up."""
    catch_up = [t for r in results for t in r["catch_up_s"]]
    done = [t for t in catch_up if not math.isinf(t)]
    figures = catch_up_figures(catch_up)
    rig = merge_summaries([r["rig"] | {"process": f"worker-{i}"} for i, r in enumerate(results)])
    rig.pop("by_process", None)
    reason = None
    # Saturated by lag alone (its CPU under the threshold): the process waited for its core, which other
    # work on the machine held; more workers on the same core would not help, a quieter machine would.
    # Unless its own garbage collector paused it that long (it holds the GIL throughout): the rig's own work.
    gc_pause = max((r.get("gc", {}).get("pause_max_s", 0.0) for r in results), default=0.0)
    lag_threshold = rig.get("lag_threshold_s", LAG_THRESHOLD_S)
    starved = (rig["saturated"] and rig["cpu_ratio_max"] < rig.get("cpu_threshold", CPU_THRESHOLD)
               and gc_pause < lag_threshold)
    if rig["saturated"]:
        reason = (f"the rig was saturated for {rig['saturated_seconds']:.1f} s (up to {rig['cpu_ratio_max']:.2f} "
                  f"of a core, loop lag p99 {rig['loop_lag_p99_s']:.2f} s): this step timed the rig, not the gateway")
        if gc_pause >= lag_threshold:
            reason += f" (its garbage collector paused it up to {gc_pause:.2f} s at once)"
        if starved:
            wait = rig.get("wait_ratio_max")
            reason += (" (starved, not busy: its CPU stayed under the threshold" +
                       ("" if wait is None else f", its threads waited for a core up to {wait:.2f} of a second") +
                       ": other work on this machine held the rig's core)")
    last = max(done, default=0.0)
    return {"devices": devices, "caught_up": len(done), "over_budget": len(catch_up) - len(done),
            "failed": sum(r["failed"] for r in results), "incomplete": sum(r["incomplete"] for r in results),
            "catch_up_s": figures, "p99_within_budget": figures["p99"] is not None,
            "wakes_per_s": round(len(done) / last, 1) if last else 0.0,
            "gateway": {"cpu_s_per_wake": round(gateway_cpu_s / max(len(catch_up), 1), 5),
                        "cores_busy_mean": round(gateway_cores_busy_mean, 2),
                        "cores_busy_max_1s": _round(gateway_cores_busy_max),
                        "saturated": gateway_cores_busy_mean >= GATEWAY_BUSY * gateway_cores},
            "rig_cpu_s_per_wake": round(sum(r["rig_cpu_s"] for r in results) / max(len(catch_up), 1), 5),
            "rig_gc_pause_max_s": gc_pause,
            "valid": not rig["saturated"], "invalid_reason": reason, "rig_starved": starved, "rig": rig,
            "errors": [e for r in results for e in r["errors"]][:10], "setup_s": round(setup_s, 1),
            "budget_s": budget}


def storm_seconds(done: Sequence[float], devices: int, budget: float) -> float:
    """How long a storm kept the gateway at work: to its last device caught up, or to the budget's kill when
    any device was over it (they were replicating until then; measured to the last caught up, a storm that
    crossed the budget read 1.58 gateway cores busy on one core)."""
    return max(done) if done and len(done) == devices else budget


def plan_workers(workers: str, devices: int, gateway_cores: int) -> int:
    """`--workers N`, or auto: the `rig run --workers auto` rule on the cores left beside the gateway's."""
    from rig._errors import ConfigError
    from rig.load.sizing import available_cores
    from rig.load.sizing import plan_workers as plan

    if workers != "auto":
        try:
            count = int(workers)
        except ValueError:
            count = 0
        if count < 1:
            raise ConfigError(f"--workers {workers!r}: a number of processes (1 or more) or auto")
        return count
    left = max(1, available_cores() - gateway_cores)
    return plan(devices, left, gateway_local=False).processes


# Measuring -----------------------------------------------------------------------------------------


class _GatewayCpu:
    """The gateway's CPU time sampled every 0.25 s, so a storm's busiest second can be read back."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gateway-cpu", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), process_cpu_seconds(self.pid)))
            self._stop.wait(0.25)

    def start(self) -> _GatewayCpu:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def busiest(self, start: float, end: float) -> float | None:
        """The gateway's busiest second (in cores) from `start` to `end` (epoch); None under a second."""
        inside = [s for s in self.samples if start - 0.3 <= s[0] <= end + 0.3]
        busiest: float | None = None
        for i, (t0, c0) in enumerate(inside):
            later = [s for s in inside[i + 1:] if s[0] - t0 >= 1.0]
            if later:
                busiest = max(busiest or 0.0, (later[0][1] - c0) / (later[0][0] - t0))
        return busiest


def pin(pid: int, cores: set[int]) -> None:
    """Every thread of `pid` onto `cores` (sched_setaffinity acts on one thread; Go has many)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError, PermissionError):  # a thread that just ended
            os.sched_setaffinity(int(task), cores)


class _Workers:
    """Worker processes, each holding every W-th device (device i in worker i mod W)."""

    def __init__(self, count: int, cores: list[int] | None, settings: Settings) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for i in range(count):
            mine, theirs = context.Pipe()
            process = context.Process(target=serve, name=f"capacity-worker-{i}", daemon=True,
                                      args=(theirs, f"worker-{i}", cores, settings.cpu_threshold,
                                            settings.lag_threshold_s))
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)
        self.devices = 0

    def _ask(self, messages: Sequence[tuple[Any, ...]], timeout: float) -> list[Any]:
        for pipe, message in zip(self.pipes, messages, strict=True):
            pipe.send(message)
        answers = []
        for i, pipe in enumerate(self.pipes):
            if not pipe.poll(timeout):
                raise TimeoutError(f"capacity worker-{i} did not answer within {timeout:.0f} s")
            answers.append(pipe.recv()[1])
        return answers

    def add(self, url: str, users: Sequence[tuple[str, tuple[str, str]]]) -> list[str]:
        shares: list[list[tuple[str, tuple[str, str]]]] = [[] for _ in self.pipes]
        for offset, user in enumerate(users):
            shares[(self.devices + offset) % len(self.pipes)].append(user)
        self.devices += len(users)
        answers = self._ask([("add", url, share) for share in shares], 900)
        return [e for errors in answers for e in errors]

    def storm(self, devices: int, at: float, budget: float, step: int, backlog: int) -> list[dict[str, Any]]:
        w = len(self.pipes)
        counts = [len(range(i, devices, w)) for i in range(w)]
        return self._ask([("storm", at, budget, counts[i], step, backlog) for i in range(w)], budget + 120)

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop",))
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


def _database() -> DatabaseSpec:
    # Users without passwords (the devices use sessions): a bcrypt per user would cost seconds per hundred.
    return DatabaseSpec(_DB, extra={"allow_empty_password": True})


def _users(admin: AdminClient, first: int, last: int) -> list[tuple[str, tuple[str, str]]]:
    def make(i: int) -> tuple[str, tuple[str, str]]:
        name = f"cap-{i:05d}"
        admin.put_user(_DB, name, admin_channels=[name])
        return name, admin.create_session(_DB, name)

    with ThreadPoolExecutor(8) as pool:  # admin calls in flight at once: setup time, not measured
        return list(pool.map(make, range(first, last)))


def _write_backlog(admin: AdminClient, users: int, step: int, settings: Settings) -> None:
    text = "x" * settings.doc_bytes
    docs = [{"_id": doc_id, "channels": [name], "text": text, "step": step}
            for i in range(users) for name in [f"cap-{i:05d}"]
            for doc_id in backlog_ids(name, step, settings.backlog)]
    for start in range(0, len(docs), 1000):
        admin.bulk_docs(_DB, docs[start:start + 1000])
    admin.wait_for_changes_feed(_DB)


def run(binary: Path, run_dir: Path, settings: Settings,
        progress: Callable[[str], None] = print) -> dict[str, Any]:
    began = time.monotonic()
    everything = sorted(os.sched_getaffinity(0))
    gateway_set: set[int] = set()
    if settings.gateway_cores and len(everything) > settings.gateway_cores:
        gateway_set = set(everything[-settings.gateway_cores:])
    rig_cores = [c for c in everything if c not in gateway_set]
    result: dict[str, Any] = {
        "benchmark": "capacity", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "gateway": binary_version(binary), "storage": "rosmar in memory", "machine": machine(),
        "settings": asdict(settings) | {"steps": list(settings.steps)},
        "cores": {"gateway": sorted(gateway_set) or everything, "rig": rig_cores,
                  "gateway_pinned": bool(gateway_set)},
        "steps": [],
    }
    with LocalGateway(binary, run_dir / "gateway", databases=[_database()], log_level="warn") as gateway:
        pid = gateway.pid
        assert pid is not None
        if gateway_set:
            pin(pid, gateway_set)
        gateway_cores = len(gateway_set) or len(everything)
        admin = AdminClient(gateway.admin_url, gateway.metrics_url)
        url = f"{gateway.public_url}/{_DB}"
        cpu = _GatewayCpu(pid).start()
        workers = _Workers(settings.workers, rig_cores if gateway_set else None, settings)
        try:
            for number, n in enumerate(settings.steps):
                if time.monotonic() - began + _step_needs(result["steps"], n, settings) > settings.max_seconds:
                    break  # judged below as stopped at the time limit
                setup = time.monotonic()
                errors = workers.add(url, _users(admin, workers.devices, n)) if n > workers.devices else []
                if errors:  # such a device then misses older documents too, and likely its budget
                    progress(f"{len(errors)} device(s) failed their first sync, e.g. {errors[0]}")
                _write_backlog(admin, n, number, settings)
                if gateway_set:
                    pin(pid, gateway_set)  # threads the gateway started since
                # Time for every worker to get the message and make its devices' sockets (before the push).
                at = time.time() + 1.0 + n / 4000
                setup_s = time.monotonic() - setup
                # The gateway's CPU bracketing the storm (it idles in the lead before `at` and once the
                # last device is done), so even a storm shorter than the sampling period is measured.
                cpu_before = process_cpu_seconds(pid)
                results = workers.storm(n, at, settings.budget_s, number, settings.backlog)
                gateway_cpu_s = process_cpu_seconds(pid) - cpu_before
                done = [t for r in results for t in r["catch_up_s"] if not math.isinf(t)]
                end = at + storm_seconds(done, n, settings.budget_s)
                busiest = cpu.busiest(at, end)
                mean = gateway_cpu_s / max(end - at, 1e-3)
                row = step_row(n, settings.budget_s, results, gateway_cpu_s=gateway_cpu_s,
                               gateway_cores_busy_mean=mean, gateway_cores_busy_max=busiest,
                               gateway_cores=gateway_cores, setup_s=setup_s)
                row["first_sync_failures"] = len(errors)
                result["steps"].append(row)
                figures = row["catch_up_s"]
                progress(f"storm of {n:5}: p50 {_s(figures['p50'])} p99 {_s(figures['p99'])}, "
                         f"{row['over_budget']} over budget, {row['wakes_per_s']} wakes/s, gateway "
                         f"{row['gateway']['cores_busy_mean']:.2f} cores (busiest second "
                         f"{row['gateway']['cores_busy_max_1s'] or '-'}), rig max {row['rig']['cpu_ratio_max']:.2f} "
                         f"of a core" + ("" if row["valid"] else f"; INVALID: {row['invalid_reason']}"))
                verdict = judge(result["steps"], settings, gateway_cores)
                result["verdict"] = verdict
                if verdict["stopped_because"] is not None:
                    break
        finally:
            workers.close()
            cpu.stop()
    verdict = judge(result["steps"], settings, gateway_cores)
    if verdict["stopped_because"] is None:
        verdict = _time_limited(verdict, settings)
    result["verdict"] = verdict
    result["valid"] = all(step["valid"] for step in result["steps"])
    result["wall_s"] = round(time.monotonic() - began, 1)
    return result


def _step_needs(done: Sequence[dict[str, Any]], devices: int, settings: Settings) -> float:
    """Seconds a storm of `devices` will take at most: its setup (users, first syncs, the backlog) grows with
    the fleet, so the last step's setup scaled by size, plus the budget and the workers' answers."""
    setup = done[-1]["setup_s"] * devices / done[-1]["devices"] if done else 0.0
    return setup + settings.budget_s + 30


def _time_limited(verdict: dict[str, Any], settings: Settings) -> dict[str, Any]:
    capacity = verdict["capacity_devices"]
    text = (f"CAPACITY AT LEAST {capacity} devices ({verdict['devices_per_gateway_core']} per gateway core): "
            f"stopped at the time limit before the p99 crossed the {settings.budget_s:g} s budget")
    return verdict | {"stopped_because": "time_limit", "text": text + verdict["text"]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _s(value: float | None) -> str:
    return "over budget" if value is None else f"{value:.2f} s"
