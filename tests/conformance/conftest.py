"""The conformance suite's fixtures: the routing spec, the sync function under test, a harness per case.

Options come from the environment so that `rig conform` can run this suite as a
subprocess: RIG_CONFORM_SPEC (routing spec, default gateway_config/routing/teams.toml),
RIG_CONFORM_SYNC (sync function file, default: rendered from the spec),
RIG_CONFORM_AGAINST ("spec" or "gateway"), RIG_CONFORM_RESULTS (folder for per-case findings),
RIG_CONFORM_CBL (the Couchbase Lite release the devices behave as, default 3.3)
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

from rig.conformance import Harness, create_database, default_spec_path, render_sync_functions
from rig.conformance.mutation import ENV_MANIFEST
from rig.conformance.runner import ENV_AGAINST, ENV_CBL, ENV_RESULTS, ENV_SPEC, ENV_SYNC, ENV_URLS, write_case_result
from rig.gateway import AdminClient, LocalGateway
from rig.oracle import RoutingSpec, load
from rig.replicator.clients import DEFAULT_RELEASE

# test_mutants.py is the suite `rig conform --mutants` runs (it writes the manifest it reads); outside such a run it
# is not collected at all (a skipped module would read as a skip on a machine where nothing may skip).
collect_ignore = [] if os.environ.get(ENV_MANIFEST) else ["test_mutants.py"]

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
    # One file; for a spec with named collections a folder with one function per collection.
    return render_sync_functions(routing_spec, tmp_path_factory.mktemp("sync"))


@pytest.fixture
def make_harness(routing_spec: RoutingSpec, sync_function: Path,
                 request: pytest.FixtureRequest) -> Iterator[MakeHarness]:
    """make_harness(sync=None, against_spec=None, cbl=None) -> a harness on a fresh database, principals created;
    its devices behave as release `cbl` (default: RIG_CONFORM_CBL, else 3.3).

    Under `rig conform` (RIG_CONFORM_RESULTS set) the findings of every harness of the test are
    written out afterwards, keyed by the pytest item, whatever the test asserted."""
    made: list[Harness] = []
    start = time.monotonic()
    # Named collections need a persistent-config gateway (tests/conftest.py `collections_gateway`).
    named = routing_spec.collections != ("_default",)
    if named and os.environ.get(ENV_URLS):
        # A gateway given by name or URL runs its own config; testing another one here would be a false PASS.
        pytest.fail("a routing spec with named collections needs a gateway binary the suite starts in persistent "
                    "config (--gateway-binary/--gateway-version), not a gateway given by name or URL")
    gateway: LocalGateway = request.getfixturevalue("collections_gateway" if named else "gateway")
    admin: AdminClient = request.getfixturevalue("collections_admin" if named else "admin")

    def make(sync: Path | None = None, against_spec: bool | None = None, cbl: str | None = None) -> Harness:
        name = f"c{next(_counter)}_{uuid.uuid4().hex[:8]}"
        create_database(admin, name, sync or sync_function, routing_spec)
        if against_spec is None:
            against_spec = os.environ.get(ENV_AGAINST, "spec") != "gateway"
        harness = Harness(admin, gateway.public_url, name, routing_spec, against_spec=against_spec,
                          cbl=cbl or os.environ.get(ENV_CBL) or DEFAULT_RELEASE)
        made.append(harness)
        harness.create_principals()
        return harness

    yield make
    results = os.environ.get(ENV_RESULTS)
    if results:
        findings = [f for harness in made for f in harness.findings()]
        write_case_result(Path(results), request.node.nodeid, findings, time.monotonic() - start)
