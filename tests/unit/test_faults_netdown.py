"""netdown, links that go down, the scenario's [links] and protocol errors: the parts that need no gateway.

The proxy tests use a loopback echo server as the upstream: they check the proxy's
sockets (cut, reset, up again), not Sync Gateway (tests/faults has those).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig._errors import (
    ConfigError,
    ConnectError,
    ConnectionClosed,
    GatewayUnsupported,
    RemoteBlipError,
    RemoteDataError,
    WebSocketProtocolError,
)
from rig.faults.gateway import Fault, NetworkTarget, apply, parse_fault
from rig.faults.link import PRESETS
from rig.faults.netdown import FlagWatcher, LocalNetworkSwitch, NetdownFlag
from rig.faults.proxies import LinkProxies
from rig.faults.proxy import LinkProxy
from rig.load.links import ProcessLinks, cut_plan, links_wanted
from rig.load.scenario import Links, load_scenario
from rig.replicator.retry import is_protocol_error, is_transient
from rig.runfiles import merge_links


def test_netdown_parses_with_a_default_of_five_seconds() -> None:
    assert parse_fault("netdown@5+3") == Fault("netdown", 5.0, 3.0)
    assert parse_fault("netdown@5") == Fault("netdown", 5.0, 5.0)
    assert str(parse_fault("netdown@5+3")) == "netdown@5+3"


class _Network:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def disconnect_network(self) -> None:
        self.calls.append("disconnect")

    def reconnect_network(self, timeout: float = 60.0) -> None:
        self.calls.append("reconnect")


class _NoNetwork:
    def kill(self) -> None: ...


def test_netdown_disconnects_waits_and_reconnects_and_needs_a_network_target() -> None:
    target, slept = _Network(), []
    clock = iter([10.0, 13.5])
    outage = apply(target, Fault("netdown", 0, 3), sleep=slept.append, wall=lambda: next(clock))  # type: ignore[arg-type]
    assert target.calls == ["disconnect", "reconnect"] and slept == [3]
    assert outage.seconds == 3.5 and outage.error is None
    refused = apply(_NoNetwork(), Fault("netdown", 0, 3), sleep=slept.append)  # type: ignore[arg-type]
    assert refused.seconds is None
    assert refused.error is not None and refused.error.startswith(GatewayUnsupported.__name__)


def test_a_local_gateway_goes_off_its_network_through_the_flag_the_processes_watch(tmp_path: Path) -> None:
    flag = NetdownFlag(tmp_path / "netdown")
    switch = LocalNetworkSwitch(object(), flag)
    assert isinstance(switch, NetworkTarget)
    seen: list[bool] = []
    watcher = FlagWatcher(flag, lambda down: seen.append(down) or 7, poll_s=0.01).start()
    outage = apply(switch, Fault("netdown", 0, 0.3))
    windows = watcher.stop()
    assert outage.error is None and not flag.is_down
    assert seen == [True, False]
    assert len(windows) == 1 and windows[0]["cuts"] == 7
    down_at, up_at = windows[0]["down_at"], windows[0]["up_at"]
    assert isinstance(down_at, float) and isinstance(up_at, float)
    assert 0.25 <= up_at - down_at < 2.0


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[:2]
    done.set()
    thread.join(2)
    server.close()


def _echo(conn: socket.socket) -> None:
    with conn, contextlib.suppress(OSError):
        while data := conn.recv(4096):
            conn.sendall(data)


def _roundtrip(address: tuple[str, int]) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"ping")
        return sock.recv(16)


def _broken(exchange: Callable[[], bytes | None]) -> bool:
    """Reset, refused or closed (an empty read)."""
    try:
        return not exchange()
    except OSError:
        return True


def test_a_link_that_goes_down_cuts_open_connections_and_resets_new_ones_until_it_is_up(
    echo: tuple[str, int]
) -> None:
    with LinkProxy(echo, None) as proxy:
        assert _roundtrip(proxy.address) == b"ping"
        held = socket.create_connection(proxy.address, timeout=5)
        held.sendall(b"x")
        assert held.recv(4) == b"x"
        deadline = time.monotonic() + 5
        while proxy.active < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.set_down(True) == 1
        assert _broken(lambda: held.sendall(b"y" * 100_000) or held.recv(4))  # under the device's feet
        held.close()
        assert _broken(lambda: _roundtrip(proxy.address))
        assert proxy.stats.refused_down >= 1 and proxy.stats.cuts == 1
        proxy.set_down(False)
        assert _roundtrip(proxy.address) == b"ping"


def test_link_proxies_go_down_together_even_classes_started_while_down(echo: tuple[str, int]) -> None:
    with LinkProxies(f"http://{echo[0]}:{echo[1]}") as links:
        direct = links.direct()
        assert _roundtrip(direct) == b"ping"
        links.set_down(True)
        shaped = links.proxy(PRESETS["wifi"])  # started while the network is down: down too
        assert shaped.down and links.proxies[LinkProxies.DIRECT].down
        links.set_down(False)
        assert _roundtrip(shaped.address) == b"ping"
        assert links.assigned == {"direct": 1}


def test_a_process_goes_down_once_however_often_it_is_told(echo: tuple[str, int]) -> None:
    links = ProcessLinks(f"http://{echo[0]}:{echo[1]}", Links(enabled=False), seed=1)
    address = links.proxies.direct()
    held = socket.create_connection(address, timeout=5)  # told by the flag and by the master alike:
    held.sendall(b"x")
    assert held.recv(4) == b"x"
    assert links.set_down(True) == 1 and links.set_down(True) == 0  # one window, one cut
    assert _broken(lambda: _roundtrip(address))
    links.set_down(False)
    links.set_down(False)
    assert _roundtrip(address) == b"ping"
    result = links.close()
    held.close()
    [window] = result["netdown"]
    assert window["cuts"] == 1 and window["up_at"] is not None
    assert result["classes"]["direct"]["refused_down"] >= 1


def test_link_results_merge_per_class_across_processes() -> None:
    row = {"devices": 2, "connections": 3, "bytes_up": 10, "bytes_down": 100, "cuts": 1, "refused_down": 0,
           "stalls": 0, "upstream_failures": 0, "refused": 0, "corrupted_bytes": 0}
    part = {"shaped": True, "cut_plan": None, "classes": {"slow4g": row}, "netdown": [{"down_at": 1.0}]}
    merged = merge_links([part, None, {**part, "classes": {"slow4g": row, "wifi": row}}])
    assert merged is not None
    assert merged["classes"]["slow4g"]["devices"] == 4 and merged["classes"]["wifi"]["bytes_down"] == 100
    assert merged["total"]["devices"] == 6 and merged["total"]["cuts"] == 3
    assert len(merged["netdown_seen"]) == 2
    assert merge_links([None, None]) is None


def test_scenario_links_default_off_and_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('fleet = "demo"\n')
    assert load_scenario(path).links == Links() and not Links().enabled
    path.write_text('fleet = "demo"\n[links]\nenabled = false\ncut_after_s = 4\n')
    links = load_scenario(path).links
    assert not links.enabled and cut_plan(links) is not None and cut_plan(links).after_s == 4.0  # type: ignore[union-attr]
    assert links_wanted(Links(enabled=False), netdown=True) and not links_wanted(Links(enabled=False), netdown=False)
    for text, message in (("[links]\nenabeld = true\n", "unknown key 'links.enabeld' (did you mean 'enabled'?)"),
                          ("[links]\nenabled = 1\n", "links.enabled must be bool"),
                          ("[links]\ncut_after_s = 0\n", "links.cut_after_s must be positive"),
                          ("[links]\ncut_after_down_bytes = 1.5\n", "links.cut_after_down_bytes must be int")):
        path.write_text('fleet = "demo"\n' + text)
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_scenario(path)


@pytest.mark.parametrize(("error", "protocol"), [
    (WebSocketProtocolError("RSV bits", code=1002), True),
    (RemoteBlipError("bad CRC"), True),
    (RemoteDataError("not JSON", profile="changes"), True),
    (ConnectError("refused"), False),
    (ConnectionClosed("gone", code=1001), False),
])
def test_protocol_errors_are_the_gateway_breaking_the_protocol_never_retried(error: Exception,
                                                                             protocol: bool) -> None:
    assert is_protocol_error(error) is protocol
    if protocol:
        assert not is_transient(error)
