"""Rig and gateway CPU per 1,000 documents over a run's load phase (from the first to the last sample of worker 0)."""
import json, sys, glob, bisect
run, poll = sys.argv[1], sys.argv[2]
summary = json.load(open(f"{run}/summary.json"))
w0 = json.load(open(f"{run}/worker-0.json"))
s = w0["samples"]
t0, t1 = s[0]["t"], s[-2]["t"] if len(s) > 2 else s[-1]["t"]  # the last sample is taken after the load phase ends
a, b = s[0], s[-2]
docs = (b["gateway_pushed"] - a["gateway_pushed"]) + (b["gateway_pulled"] - a["gateway_pulled"])
rows = [json.loads(l) for l in open(poll)]
ts = [r["t"] for r in rows]
def at(t):
    i = min(max(bisect.bisect_left(ts, t), 0), len(rows) - 1); return rows[i]
ra, rb = at(t0), at(t1)
rig = sum(rb["rig"].get(p, 0) - ra["rig"].get(p, 0) for p in rb["rig"] if p in ra["rig"])
gw = rb["gw"] - ra["gw"]
sec = rb["t"] - ra["t"]
print(json.dumps({"run": run.rstrip('/').split('/')[-1], "driver": summary["driver"], "devices": summary["devices"],
      "window_s": round(sec, 1), "docs": docs, "docs_per_s": round(docs / sec, 1),
      "rig_cpu_s": round(rig, 2), "gw_cpu_s": round(gw, 2),
      "rig_ms_per_doc": round(rig / docs * 1000, 3), "gw_ms_per_doc": round(gw / docs * 1000, 3),
      "rig_over_gw": round(rig / gw, 2), "lost": summary["figures"].get("lost_writes"),
      "errors": summary["figures"].get("errors"), "leaks": summary["figures"].get("leaks"),
      "misses": summary["figures"].get("misses"), "push": summary["push"]}))
