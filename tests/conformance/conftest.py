"""The conformance suite's fixtures: the routing spec, the sync function under test, a harness per case.

Options come from the environment so that `rig conform` can run this suite as a
subprocess: RIG_CONFORM_SPEC (routing spec, default gateway_config/routing/teams.toml),
RIG_CONFORM_SYNC (sync function file, default: rendered from the spec),
RIG_CONFORM_AGAINST ("spec" or "gateway"), RIG_CONFORM_RESULTS (folder for per-case findings)
and RIG_SG_BINARY (the gateway, see tests/conftest.py).
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.conformance import Harness, create_database, default_spec_path
from rig.conformance.runner import ENV_AGAINST, ENV_CLIENT, ENV_RESULTS, ENV_SPEC, ENV_SYNC, write_case_result
from rig.gateway import AdminClient, LocalGateway
from rig.oracle import RoutingSpec, load, render
from rig.replicator.clients import DEFAULT_RELEASE

MakeHarness = Callable[..., Harness]
_counter = itertools.count()


@pytest.fixture(scope="session")
def routing_spec() -> RoutingSpec:
    return load(Path(os.environ.get(ENV_SPEC) or default_spec_path()))


@pytest.fixture(scope="session")
def sync_function(routing_spec: RoutingSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sync function under test: RIG_CONFORM_SYNC, or the one rendered from the spec."""
    given = os.environ.get(ENV_SYNC)
    if given:
        return Path(given)
    path = tmp_path_factory.mktemp("sync") / f"{routing_spec.name}.js"
    path.write_text(render(routing_spec))
    return path


@pytest.fixture
def make_harness(gateway: LocalGateway, admin: AdminClient, routing_spec: RoutingSpec, sync_function: Path,
                 request: pytest.FixtureRequest) -> Iterator[MakeHarness]:
    """make_harness(sync_function=None, against_spec=None) -> a harness on a fresh database, principals created.

    Under `rig conform` (RIG_CONFORM_RESULTS set) the findings of every harness of the test are
    written out afterwards, keyed by the pytest item, whatever the test asserted."""
    made: list[Harness] = []
    start = time.monotonic()

    def make(sync: Path | None = None, against_spec: bool | None = None) -> Harness:
        name = f"c{next(_counter)}_{uuid.uuid4().hex[:8]}"
        create_database(admin, name, sync or sync_function)
        if against_spec is None:
            against_spec = os.environ.get(ENV_AGAINST, "spec") != "gateway"
        harness = Harness(admin, gateway.public_url, name, routing_spec, against_spec=against_spec,
                          cbl=os.environ.get(ENV_CLIENT) or DEFAULT_RELEASE)
        made.append(harness)
        harness.create_principals()
        return harness

    yield make
    results = os.environ.get(ENV_RESULTS)
    if results:
        findings = [f for harness in made for f in harness.findings()]
        write_case_result(Path(results), request.node.nodeid, findings, time.monotonic() - start)
