"""`rig walkthrough`: a guided replication on the embedded default (a locally built Sync Gateway on rosmar).

Starts Sync Gateway, makes users, and has devices replicate like the seed app
(a user profile with a photo): a phone pushes, a tablet pulls, an edit and a
deletion flow back, a second user sees nothing of the first. Prints what
happened and where the run's files are.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rig._paths import runs_dir


def register(commands: Any) -> None:
    from rig.gateway.build import DEFAULT_VERSION, RELEASES

    demo = commands.add_parser("walkthrough", help="two devices of one user and one of another, step by step")
    demo.add_argument("--version", default=DEFAULT_VERSION, choices=list(RELEASES))
    demo.add_argument("--binary", type=Path, help="Sync Gateway binary (default: build --version)")
    demo.add_argument("--profiles", type=int, default=200, help="profile documents the phone writes")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from rig.device import Credentials, VirtualDevice
    from rig.gateway import AdminClient, DatabaseSpec, LocalGateway
    from rig.gateway.build import binary_version, build
    from rig.replicator import Attachment

    binary = args.binary or build(args.version)
    run_dir = runs_dir() / f"walkthrough-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"Sync Gateway: {binary_version(binary)}")
    with LocalGateway(binary, run_dir / "gateway", databases=[DatabaseSpec("demo")]) as gateway:
        admin = AdminClient(gateway.admin_url, gateway.metrics_url)
        for user in ("ann", "bob"):
            admin.put_user("demo", user, password=f"{user}-password", admin_channels=[user])
        url = f"{gateway.public_url}/demo"
        print(f"gateway up at {gateway.public_url} (admin {gateway.admin_url}), run files in {run_dir}")

        def device(user: str) -> VirtualDevice:
            return VirtualDevice(url, Credentials(user, f"{user}-password"))

        phone, tablet, other = device("ann"), device("ann"), device("bob")
        for i in range(args.profiles):
            photo = {"photo": Attachment(bytes(range(256)) * (4 + i % 8), "image/jpeg")} if i % 10 == 0 else None
            phone.store.put(f"ann-profile-{i}", {"type": "profile", "owner": "ann", "channels": ["ann"],
                                                 "name": f"Ann #{i}", "updated_at": time.time()}, photo)
        steps: list[dict[str, Any]] = []

        def step(name: str, dev: VirtualDevice, **kwargs: Any) -> None:
            started = time.monotonic()
            stats = dev.sync(timeout=120, **kwargs)
            admin.wait_for_changes_feed("demo")
            row = {"step": name, "seconds": round(time.monotonic() - started, 3), "pushed": stats.docs_pushed,
                   "pulled": stats.docs_pulled, "attachments_pulled": stats.attachments_pulled,
                   "rejected": stats.rejected, "conflicts": stats.conflicts, "errors": stats.errors}
            steps.append(row)
            print(f"  {name:42} {row['seconds']:6.2f}s  pushed {row['pushed']:4}  pulled {row['pulled']:4}"
                  f"  attachments {row['attachments_pulled']:3}  rejected {row['rejected']}  errors {row['errors']}")

        step("phone pushes profiles (one-shot)", phone, pull=False)
        step("tablet pulls (one-shot)", tablet, push=False)
        tablet.store.put("ann-profile-1", {"type": "profile", "owner": "ann", "channels": ["ann"], "name": "Ann!"})
        tablet.store.delete("ann-profile-2")
        step("tablet pushes an edit and a deletion", tablet)
        step("phone syncs", phone)
        other.store.put("forged", {"type": "profile", "owner": "ann", "channels": ["bob"]})
        step("bob's device syncs (sees nothing of ann's)", other)

        same = {d.doc_id: d.rev for d in phone.store.docs.values()} == \
            {d.doc_id: d.rev for d in tablet.store.docs.values()}
        leaks = [d for d in other.store.docs if d.startswith("ann-")]
        metrics = {name: admin.metric(name, database="demo") for name in (
            "sgw_replication_push_doc_push_count", "sgw_replication_pull_rev_send_count",
            "sgw_database_num_replications_total", "sgw_security_num_docs_rejected")}
        summary = {"gateway": binary_version(binary), "steps": steps, "phone_and_tablet_identical": same,
                   "documents_leaked_to_bob": len(leaks), "gateway_metrics": metrics}
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"phone and tablet hold identical documents: {same}")
    print(f"documents of ann's seen by bob: {len(leaks)}; bob's forged write rejected: {steps[-1]['rejected']}")
    print(f"gateway metrics: {json.dumps(metrics)}")
    print(f"summary: {run_dir / 'summary.json'}   gateway log: {run_dir / 'gateway' / 'sync_gateway.log'}")
    return 0 if same and not leaks and steps[-1]["rejected"] == 1 else 1
