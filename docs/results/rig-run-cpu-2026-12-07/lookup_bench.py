"""CPU of the push service's lookups: AdminClient (httpx) vs GatewayLookups (http.client), same real gateway."""
import tempfile, time
from pathlib import Path
from rig.gateway import LocalGateway, DatabaseSpec, AdminClient
from rig.gateway.build import build
from rig.push.lookups import GatewayLookups
with LocalGateway(build("main"), Path(tempfile.mkdtemp()), databases=[DatabaseSpec("db")], log_level="warn") as gw:
    a = AdminClient(gw.admin_url, gw.metrics_url)
    for i in range(20):
        a.put_user("db", f"u{i}", password="pw12345", admin_channels=[f"c{i}", "team"])
    a.bulk_docs("db", [{"_id": f"d{i}", "channels": [f"c{i}"], "text": "x" * 1000} for i in range(20)])
    l = GatewayLookups(a.url)
    for name, client in (("httpx AdminClient", a), ("http.client GatewayLookups", l), ("httpx AdminClient", a), ("http.client GatewayLookups", l)):
        for kind in ("user", "doc_channels"):
            n = 1000
            c0, w0 = time.process_time(), time.monotonic()
            for i in range(n):
                client.user("db", f"u{i % 20}") if kind == "user" else client.doc_channels("db", f"d{i % 20}")
            c1, w1 = time.process_time(), time.monotonic()
            print(f"{name:28} {kind:13} {(c1 - c0) / n * 1e6:6.0f} us CPU/lookup  {(w1 - w0) / n * 1e6:6.0f} us wall")
