"""The rig's locustfile: `locust -f rig/load/locustfile.py` (web UI) or a `rig run` worker.

Reads its run from RIG_RUN_CONFIG (the JSON `rig run` writes), so the web UI
runs the same scenario against the same prepared gateway.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from locust import events

from rig.load.process import LoadProcess, RunConfig
from rig.load.users import DeviceUser, fire_locust_events, set_process

__all__ = ["DeviceUser"]


@events.init.add_listener  # type: ignore[untyped-decorator]
def _on_init(environment: Any, **_: Any) -> None:
    path = os.environ.get("RIG_RUN_CONFIG")
    if not path:
        raise SystemExit("RIG_RUN_CONFIG is not set: prepare a run with `rig run SCENARIO --prepare-only`")
    from locust.runners import MasterRunner

    if isinstance(environment.runner, MasterRunner):
        return  # the master only coordinates; devices live in workers
    config = RunConfig.load(Path(path))
    index = int(os.environ.get("RIG_WORKER_INDEX", config.worker_index))
    if index != config.worker_index:
        config = RunConfig.load(Path(path).with_name(f"run-config-{index}.json"))
    process = LoadProcess(config)
    process.measurements.listeners.append(fire_locust_events(environment))
    process.start()
    set_process(process)

    @events.quitting.add_listener  # type: ignore[untyped-decorator]
    def _on_quit(**_: Any) -> None:
        process.finish()
