"""Summarise py-spy raw (collapsed) stacks: share of samples by category and top self/inclusive functions."""
import sys, collections
path = sys.argv[1]
total = 0; selfc = collections.Counter(); incl = collections.Counter(); cats = collections.Counter()
CATS = [("push service", ("rig/push/",)), ("sampler", ("samples.py", "fleet_sample")),
        ("recorder/observe", ("load/observe.py",)), ("metrics (prometheus)", ("rig/metrics/", "prometheus_client")),
        ("saturation", ("saturation.py",)), ("gateway admin client", ("rig/gateway/",)), ("device loop", ("device/loop",)),
        ("replicator", ("rig/replicator/",)), ("blip", ("rig/blip/",)), ("transport", ("rig/transport/",)),
        ("lifecycle", ("lifecycle.py",)), ("runner", ("device/runner.py",)), ("locust", ("locust/",)),
        ]
for line in open(path):
    stack, _, n = line.rstrip().rpartition(" ")
    n = int(n); total += n
    frames = stack.split(";")
    selfc[frames[-1]] += n
    for f in set(frames): incl[f] += n
    # category: first rig frame from the top of stack? use deepest matching category frame from the root for attribution
    cat = "other"
    for name, keys in CATS:
        if any(any(k in f for k in keys) for f in frames):
            cat = name; break
    cats[cat] += n
print("total samples", total)
for c, n in cats.most_common(): print(f"  {c:24} {n/total*100:5.1f}%")
print("-- self"); [print(f"  {n/total*100:5.1f}% {f[:140]}") for f, n in selfc.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 25)]
print("-- inclusive"); [print(f"  {n/total*100:5.1f}% {f[:140]}") for f, n in incl.most_common(int(sys.argv[3]) if len(sys.argv) > 3 else 40)]
