"""wss:// against a real Sync Gateway serving a self-signed certificate (legacy SSLCert/SSLKey)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import ssl
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rig._errors import AuthenticationRejected, ConnectError, GatewayStartError, HandshakeRejected, ReadTimeout
from rig._paths import project_root
from rig.gateway import DatabaseSpec, LocalGateway
from rig.transport import BasicAuth, WebSocketTransport

pytestmark = pytest.mark.gateway

DB = "tls"
PASSWORD = "tls-pass"


def make_self_signed(cert: Path, key: Path) -> None:
    """A certificate for 127.0.0.1 / localhost: `cryptography` if installed, else the openssl CLI."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("needs the cryptography package or the openssl CLI to make a certificate")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
        return
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


class TlsGateway(LocalGateway):
    """LocalGateway whose every interface (public, admin, metrics) speaks HTTPS."""

    def __init__(self, *args: object, ca_file: Path, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.ca_file = ca_file

    @property
    def public_url(self) -> str:
        return f"https://{self.interfaces.public}"

    @property
    def admin_url(self) -> str:
        return f"https://{self.interfaces.admin}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.admin_url, verify=context, timeout=5) as client:
            while True:
                if not self.is_running():
                    raise GatewayStartError("TLS gateway exited during start", log_tail=self.log_tail(30))
                try:
                    if all(client.get(f"/{db.name}/").json().get("state") == "Online" for db in self.databases):
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise GatewayStartError("TLS gateway not ready", log_tail=self.log_tail(30))
                time.sleep(0.1)


@pytest.fixture(scope="module")
def tls_gateway(sg_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsGateway]:
    run_dir = tmp_path_factory.mktemp("tls-gateway")
    cert, key = run_dir / "cert.pem", run_dir / "key.pem"
    make_self_signed(cert, key)
    config_root = run_dir / "gateway_config"
    shutil.copytree(project_root() / "gateway_config", config_root)
    top = json.loads((config_root / "gateway.json").read_text())
    top.update(SSLCert=str(cert), SSLKey=str(key))
    (config_root / "gateway.json").write_text(json.dumps(top))
    users = {"alice": {"password": PASSWORD, "admin_channels": ["alice"]}}
    gateway = TlsGateway(sg_binary, run_dir, databases=[DatabaseSpec(DB, users=users)], config_root=config_root,
                         ca_file=cert)
    gateway.start()
    yield gateway
    gateway.stop()


@pytest.fixture
def trusting(tls_gateway: TlsGateway) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_gateway.ca_file))


def test_wss_with_a_trusting_context_connects_and_carries_blip(tls_gateway: TlsGateway,
                                                                trusting: ssl.SSLContext) -> None:
    url = f"wss://{tls_gateway.interfaces.public}/{DB}/_blipsync"
    with WebSocketTransport.connect(url, auth=BasicAuth("alice", PASSWORD), ssl_context=trusting) as transport:
        assert transport.subprotocol == "BLIP_3+CBMobile_3"
        props = b"Profile\0getCheckpoint\0client\0cp-tls\0"
        payload = bytes([len(props)]) + props
        transport.send([b"\x01\x00" + payload + zlib.crc32(payload).to_bytes(4, "big")])
        frame = transport.recv(timeout=10)
        assert frame is not None
        assert frame[0] == 1
        assert frame[1] & 0x07 == 2
        started = time.monotonic()
        with pytest.raises(ReadTimeout):
            transport.recv(timeout=0.2)
        assert time.monotonic() - started < 2
    assert transport.closed
    assert transport.close_code == 1000


def test_https_urls_map_to_wss_and_auth_errors_still_surface(tls_gateway: TlsGateway,
                                                             trusting: ssl.SSLContext) -> None:
    url = f"{tls_gateway.public_url}/{DB}/_blipsync"
    assert url.startswith("https://")
    with pytest.raises(AuthenticationRejected) as info:
        WebSocketTransport.connect(url, auth=BasicAuth("alice", "wrong"), ssl_context=trusting)
    assert info.value.status == 401


def test_an_untrusted_certificate_is_connect_error(tls_gateway: TlsGateway) -> None:
    url = f"wss://{tls_gateway.interfaces.public}/{DB}/_blipsync"
    with pytest.raises(ConnectError, match="TLS"):
        WebSocketTransport.connect(url, auth=BasicAuth("alice", PASSWORD), timeout=10)


def test_plain_ws_to_a_tls_port_is_refused_by_go_with_400(tls_gateway: TlsGateway) -> None:
    url = f"ws://{tls_gateway.interfaces.public}/{DB}/_blipsync"
    with pytest.raises(HandshakeRejected) as info:
        WebSocketTransport.connect(url, auth=BasicAuth("alice", PASSWORD), timeout=5)
    assert info.value.status == 400
    assert "HTTPS" in info.value.body
