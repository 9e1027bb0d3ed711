"""Security: the rig's own endpoints bind to loopback, and credentials appear nowhere they could leak.

Passwords, session ids and Authorization/Cookie header values are looked for in logs (at
DEBUG), printed output, error messages, reprs, a `rig run`'s whole run directory and its
metrics endpoints while it runs. The compose stack's published ports are checked by
tests/docker/test_compose.py (loopback only, no admin port).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import logging
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from rig._errors import AuthenticationRejected
from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, GatewayController
from rig.push import PushService

pytestmark = pytest.mark.gateway

SMOKE_USERS = 10  # scenarios/smoke.toml


def _secrets_of(user: str, password: str) -> list[bytes]:
    """The password and every form the rig could write it in: the Basic token, the header line."""
    token = base64.b64encode(f"{user}:{password}".encode())
    return [password.encode(), token, b"Basic " + token]


def _leaks(blob: bytes, secrets: list[bytes]) -> list[bytes]:
    return [s for s in secrets if s in blob]


def _is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host.split("%")[0]).is_loopback


def test_the_push_service_binds_to_loopback_by_default(admin: AdminClient, db: str) -> None:
    service = PushService(admin, db, rng=random.Random(1))
    service.start()
    try:
        host, port = service._server.server_address[:2]
        assert _is_loopback(str(host)), host
        assert service.url.startswith(f"http://127.0.0.1:{port}/")
        listening = {c.laddr for c in psutil.Process().net_connections("tcp") if c.status == psutil.CONN_LISTEN}
        assert all(_is_loopback(a.ip) for a in listening if a.port == port)
    finally:
        service.stop()


def test_a_device_sync_leaks_no_password_or_session_into_logs_output_errors_or_reprs(
    gateway: GatewayController, admin: AdminClient, db: str, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str]
) -> None:
    password = f"pw-{os.urandom(8).hex()}"
    admin.put_user(db, "ann", password=password, admin_channels=["ann"])
    cookie, session_id = admin.create_session(db, "ann")
    secrets = [*_secrets_of("ann", password), session_id.encode(), f"{cookie}={session_id}".encode()]
    url = f"{gateway.public_url}/{db}"
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        by_password = VirtualDevice(url, Credentials("ann", password))
        by_password.store.put("ann.1", {"channels": ["ann"], "n": 1})
        stats = by_password.sync(timeout=30)
        assert stats.docs_pushed == 1
        by_session = VirtualDevice(url, Credentials("ann", session=(cookie, session_id)))
        assert by_session.sync(timeout=30).docs_pulled == 1
        with pytest.raises(AuthenticationRejected) as refused:
            VirtualDevice(url, Credentials("ann", password + "-wrong")).sync(timeout=30)
        texts += [repr(by_password), repr(by_session), repr(by_password.credentials), str(stats),
                  str(refused.value), repr(refused.value), repr(by_session.credentials.auth())]
    captured = capsys.readouterr()
    blob = "\n".join([caplog.text, captured.out, captured.err, *texts]).encode()
    assert "ann" in caplog.text or texts  # the checks below looked at real text
    assert _leaks(blob, secrets) == []
    assert (password + "-wrong").encode() not in blob

    # The command line prints events and a summary; -v prints every document.
    for auth in (["--password", password], ["--session", session_id]):
        result = subprocess.run([sys.executable, "-m", "rig", "device", "sync", "--url", url, "--user", "ann",
                                 *auth, "-v"], capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        assert _leaks(result.stdout + result.stderr, secrets) == []


def _listening(root: psutil.Process) -> dict[tuple[str, int], str]:
    """(address, port) -> process name, for every listening TCP socket of `root` and its children."""
    found: dict[tuple[str, int], str] = {}
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return found
    for proc in processes:
        try:
            for conn in proc.net_connections("tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found[(conn.laddr.ip, conn.laddr.port)] = proc.name()
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
def test_a_load_run_binds_only_loopback_and_writes_no_credentials(tmp_path: Path, sg_binary: Path) -> None:
    out = tmp_path / "run"
    log_out, log_err = tmp_path / "stdout", tmp_path / "stderr"
    with log_out.open("wb") as stdout_file, log_err.open("wb") as stderr_file:
        proc = subprocess.Popen([sys.executable, "-m", "rig", "run", "smoke", "--binary", str(sg_binary),
                                 "--duration", "10", "--out", str(out)], stdout=stdout_file, stderr=stderr_file)
    root = psutil.Process(proc.pid)
    listening: dict[tuple[str, int], str] = {}
    scraped: list[bytes] = []
    deadline = time.monotonic() + 400
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            for address, name in _listening(root).items():
                if address not in listening:
                    listening[address] = name
                    if "sync_gateway" not in name and name.startswith(("python", "rig")):
                        # The rig's own endpoints: metrics (and the push service, which 404s a GET).
                        with contextlib.suppress(httpx.HTTPError):
                            scraped.append(httpx.get(f"http://127.0.0.1:{address[1]}/metrics", timeout=5).content)
            time.sleep(0.3)
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    stdout, stderr = log_out.read_bytes(), log_err.read_bytes()
    assert proc.returncode == 0, stderr[-3000:]
    # The gateway (3 ports), the push service and the metrics endpoint at least.
    assert len(listening) >= 5, listening
    assert [a for a in listening if not _is_loopback(a[0])] == [], listening
    metrics = b"\n".join(scraped)
    assert b"rig_wakes_total" in metrics or b"rig_devices" in metrics, metrics[:500]

    secrets: list[bytes] = [b"Authorization", b"SyncGatewaySession="]
    for index in range(SMOKE_USERS):
        user = f"user-{index:04d}"
        secrets += _secrets_of(user, f"{user}-pw")
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "summary.json" for p in files)
    leaks = {str(p.relative_to(out)): _leaks(p.read_bytes(), secrets) for p in files}
    assert {name: found for name, found in leaks.items() if found} == {}
    assert _leaks(stdout + stderr + metrics, secrets) == []


def test_compose_files_publish_only_on_loopback_and_never_the_admin_port() -> None:
    """Static companion of tests/docker/test_compose.py (which checks the running stack without Grafana)."""
    from rig._paths import project_root

    files = sorted(project_root().glob("docker-compose*.yml"))
    assert files
    published = []
    for path in files:
        for name, service in (yaml.safe_load(path.read_text()).get("services") or {}).items():
            for entry in service.get("ports") or []:
                text = str(entry["published"] if isinstance(entry, dict) else entry)
                published.append((path.name, name, text))
                loopback = entry.get("host_ip") == "127.0.0.1" if isinstance(entry, dict) else \
                    text.startswith("127.0.0.1:")
                assert loopback, (path.name, name, entry)
                assert not text.endswith(("4985", "4986")), (path.name, name, entry)  # admin, metrics
    assert any(service == "sync-gateway" for _, service, _ in published)
