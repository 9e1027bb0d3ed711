"""Shared fixtures: the real Sync Gateway (built from source once), per-test databases."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.gateway import AdminClient, DatabaseSpec, LocalGateway


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--gateway-binary", default=os.environ.get("RIG_SG_BINARY"),
                     help="Sync Gateway binary to test against (default: build the default release)")


@pytest.fixture(scope="session")
def sg_binary(request: pytest.FixtureRequest) -> Path:
    """The Sync Gateway binary: --gateway-binary, or the default release built from source (cached)."""
    given = request.config.getoption("--gateway-binary")
    if given:
        return Path(given)
    from rig.gateway.build import DEFAULT_VERSION, build, find_binary

    # Under xdist every worker would race to build; .ci/run builds first, and the
    # build writes to a partial file then renames, so a race only wastes time.
    return find_binary(DEFAULT_VERSION) or build(DEFAULT_VERSION)


@pytest.fixture(scope="session")
def gateway(sg_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGateway]:
    """One real Sync Gateway per test process (xdist worker), in-memory rosmar, free ports."""
    run_dir = tmp_path_factory.mktemp("gateway")
    gw = LocalGateway(sg_binary, run_dir, databases=[DatabaseSpec("rig")])
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="session")
def admin(gateway: LocalGateway) -> Iterator[AdminClient]:
    client = AdminClient(gateway.admin_url, gateway.metrics_url)
    yield client
    client.close()


_counter = itertools.count()


@pytest.fixture
def db(admin: AdminClient, request: pytest.FixtureRequest) -> str:
    """A fresh database for one test, named uniquely (in-memory buckets are never reused)."""
    name = f"t{next(_counter)}_{uuid.uuid4().hex[:8]}"
    spec = DatabaseSpec(name)
    admin.create_database_from_spec(spec)
    return name
