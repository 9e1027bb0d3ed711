"""Shared fixtures: the real Sync Gateway (built from source once), per-test databases."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from rig.gateway import AdminClient, DatabaseSpec, GatewayController, LocalGateway

# Property tests judge results, never time: on a shared 2-core CI machine input generation can be
# slow (a health check failed CI once), so no deadline and no too-slow check for the whole suite.
settings.register_profile("rig", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("rig")

# Test folders whose `gateway` runs on every backend: each test there runs once per
# backend ([local], [docker]); everywhere else `gateway` is the local one.
BACKEND_SUITES = ("replicator",)
ENV_GATEWAY_URLS = "RIG_SG_URLS"
"""Set (PUBLIC,ADMIN,METRICS) by rig.conformance.runner for a gateway it did not start: `gateway` is that one."""


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under `./rig.sh test` (RIG_FORBID_SKIPS=1) a skipped test fails the run: the script installed
    everything the suite needs, so a skip means a setup step is missing, not an optional extra."""
    if os.environ.get("RIG_FORBID_SKIPS") != "1" or hasattr(session.config, "workerinput"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and session.exitstatus == 0:
        reporter.write_line(f"rig: {len(skipped)} test(s) skipped, and RIG_FORBID_SKIPS=1 forbids skips "
                            "(reasons in the summary; RIG_ALLOW_SKIPS=1 ./rig.sh test allows them)", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
def local_gateway(sg_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGateway]:
    """One real Sync Gateway per test process (xdist worker), in-memory rosmar, free ports."""
    run_dir = tmp_path_factory.mktemp("gateway")
    gw = LocalGateway(sg_binary, run_dir, databases=[DatabaseSpec("rig")])
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="session")
def collections_gateway(sg_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGateway]:
    """A real Sync Gateway in persistent config (what named collections need), in-memory rosmar."""
    gw = LocalGateway(sg_binary, tmp_path_factory.mktemp("gateway-pc"), databases=[], persistent_config=True)
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="session")
def collections_admin(collections_gateway: LocalGateway) -> Iterator[AdminClient]:
    client = AdminClient(collections_gateway.admin_url, collections_gateway.metrics_url)
    yield client
    client.close()


_docker_problem: list[str | None] = []


def docker_problem() -> str | None:
    """Why the docker backend cannot run here (asked once per process), or None."""
    if not _docker_problem:
        from rig.gateway.docker import engine_problem

        _docker_problem.append(engine_problem())
    return _docker_problem[0]


@pytest.fixture(scope="session")
def sg_image(sg_binary: Path) -> str:
    """localhost/sync-gateway:<version>-ce from the same binary as `local` (built once, cached by digest)."""
    problem = docker_problem()
    if problem:
        pytest.skip(problem)
    from rig.gateway.build import DEFAULT_VERSION
    from rig.gateway.image import sync_gateway_image

    return sync_gateway_image(DEFAULT_VERSION, binary=sg_binary)


@pytest.fixture(scope="session")
def docker_gateway(sg_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayController]:
    """One Sync Gateway container per test process, same config as `local_gateway`, ports on 127.0.0.1."""
    from rig.gateway.docker import DockerGateway

    gw = DockerGateway(sg_image, tmp_path_factory.mktemp("docker-gateway"), databases=[DatabaseSpec("rig")])
    gw.start()
    yield gw
    gw.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gateway" not in metafunc.fixturenames:
        return
    parts = metafunc.definition.path.relative_to(Path(__file__).parent).parts
    if parts and parts[0] in BACKEND_SUITES:
        problem = docker_problem()
        metafunc.parametrize("backend", [
            pytest.param("local"),
            pytest.param("docker", marks=pytest.mark.skipif(problem is not None, reason=str(problem))),
        ], indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """`local` unless the test is in a BACKEND_SUITES folder, which runs on each backend."""
    return str(getattr(request, "param", "local"))


@pytest.fixture(scope="session")
def gateway(backend: str, request: pytest.FixtureRequest) -> GatewayController:
    """The real Sync Gateway of this test: `local_gateway` or `docker_gateway` (see `backend`)."""
    urls = os.environ.get(ENV_GATEWAY_URLS)
    if urls and backend == "local":
        # A gateway the caller started (rig conform/release-check --gateway): public,admin,metrics URLs.
        from rig.gateway import UrlGateway

        public, admin, metrics = urls.split(",")
        return UrlGateway(public, admin, metrics)
    name = "docker_gateway" if backend == "docker" else "local_gateway"
    gw: GatewayController = request.getfixturevalue(name)
    return gw


@pytest.fixture(scope="session")
def admin(gateway: GatewayController) -> Iterator[AdminClient]:
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
