import tempfile, time
from pathlib import Path
from rig.gateway import LocalGateway, DatabaseSpec, AdminClient
from rig.gateway.build import build
from rig.load.samples import GATEWAY_COUNTERS
with LocalGateway(build("main"), Path(tempfile.mkdtemp()), databases=[DatabaseSpec("db")], log_level="warn") as gw:
    a = AdminClient(gw.admin_url, gw.metrics_url)
    a.bulk_docs("db", [{"_id": f"d{i}", "channels": ["c"]} for i in range(20)])
    names = tuple(GATEWAY_COUNTERS.values())
    def pick(values):
        return {k: sum(v.value for v in values if v.name in (n, f"{n}_total") and v.labels.get("database") == "db") for k, n in GATEWAY_COUNTERS.items()}
    print("all", pick(a.metrics())); print("only", pick(a.metrics(names)))
    print("metric", a.metric("sgw_database_num_doc_writes", database="db"), sum(s.value for s in a.metrics() if s.name in ("sgw_database_num_doc_writes", "sgw_database_num_doc_writes_total") and s.labels.get("database") == "db"))
    for label, call in (("all", lambda: a.metrics()), ("only", lambda: a.metrics(names))) * 2:
        c0 = time.process_time()
        for _ in range(50): call()
        print(label, f"{(time.process_time() - c0) / 50 * 1000:.1f} ms CPU per scrape")
