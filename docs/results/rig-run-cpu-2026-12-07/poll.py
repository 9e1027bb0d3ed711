"""Poll CPU of a process tree's rig (python) and sync_gateway processes every 0.5 s as JSON lines."""
import json, os, sys, time
root, out = int(sys.argv[1]), sys.argv[2]
tck = os.sysconf("SC_CLK_TCK")
def stat(pid):
    with open(f"/proc/{pid}/stat") as h:
        f = h.read().rsplit(")", 1)[1].split()
    return int(f[1]), (int(f[11]) + int(f[12])) / tck
def comm(pid):
    with open(f"/proc/{pid}/comm") as h: return h.read().strip()
with open(out, "w") as o:
    while os.path.exists(f"/proc/{root}"):
        procs = {}
        for p in os.listdir("/proc"):
            if not p.isdigit(): continue
            try:
                pp, cpu = stat(int(p)); c = comm(int(p))
            except OSError: continue
            procs[int(p)] = (pp, cpu, c)
        tree = {root}; changed = True
        while changed:
            changed = False
            for p, (pp, _, _) in procs.items():
                if pp in tree and p not in tree: tree.add(p); changed = True
        row = {"t": time.time(), "gw": sum(procs[p][1] for p in tree if p in procs and procs[p][2].startswith("sync_gateway")),
               "rig": {str(p): procs[p][1] for p in tree if p in procs and procs[p][2].startswith(("python", "rig"))}}
        o.write(json.dumps(row) + "\n"); o.flush()
        time.sleep(0.5)
