"""`rig device sync`: one virtual device against any Sync Gateway, printing what it did."""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from typing import Any

from rig._errors import ConfigError


def register(commands: Any) -> None:
    device = commands.add_parser("device", help="run one virtual Couchbase Lite device")
    sub = device.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    sync = sub.add_parser("sync", help="replicate one device with a Sync Gateway database",
                          description="Connects like Couchbase Lite (BLIP over WebSocket) and replicates. "
                                      "Without --push/--pull it does both.")
    sync.add_argument("--url", required=True,
                      help="database URL, e.g. http://127.0.0.1:4984/rig or wss://host/db")
    sync.add_argument("--user", required=True)
    sync.add_argument("--password", help="password (basic auth)")
    sync.add_argument("--session", help="session id from the admin API (cookie SyncGatewaySession)")
    sync.add_argument("--continuous", action="store_true", help="keep replicating until Ctrl-C or --duration")
    sync.add_argument("--push", action="store_true", help="push local changes")
    sync.add_argument("--pull", action="store_true", help="pull remote changes")
    sync.add_argument("--channels", default="", help="pull only these channels (comma-separated)")
    sync.add_argument("--create", type=int, default=0, metavar="N",
                      help="before syncing, create N profile documents owned by the user")
    sync.add_argument("--duration", type=float, help="seconds to run a continuous replication")
    sync.add_argument("--timeout", type=float, default=300.0, help="one-shot time budget in seconds")
    sync.add_argument("--cbl", default="3.3", help="Couchbase Lite release to behave as: 3.3, 3.4 or 4.1 (default 3.3)")
    sync.add_argument("--subprotocol", action="append", dest="subprotocols",
                      help="offer this BLIP subprotocol (repeatable; default: what the release offers)")
    sync.add_argument("-v", "--verbose", action="store_true", help="print every document event")
    sync.set_defaults(handler=_sync)


def _sync(args: argparse.Namespace) -> int:
    from rig.device import Credentials, VirtualDevice
    from rig.replicator import EventKind, ReplicationEvent
    from rig.replicator.clients import client_release

    if args.password is None and args.session is None:
        raise ConfigError("rig device sync needs --password or --session")
    push, pull = (args.push, args.pull) if (args.push or args.pull) else (True, True)
    credentials = Credentials(args.user, args.password,
                              ("SyncGatewaySession", args.session) if args.session else None)
    channels = tuple(c for c in args.channels.split(",") if c)
    device = VirtualDevice(args.url, credentials, channels=channels, cbl=client_release(args.cbl, where="--cbl"),
                           subprotocols=tuple(args.subprotocols) if args.subprotocols else None)
    for i in range(args.create):
        device.store.put(f"{args.user}-profile-{i}", {"type": "profile", "owner": args.user,
                                                      "channels": [args.user], "n": i,
                                                      "updated_at": time.time()})

    quiet = {EventKind.PULLED, EventKind.PUSHED, EventKind.CHECKPOINT_SAVED}

    def observe(event: ReplicationEvent) -> None:
        if args.verbose or event.kind not in quiet:
            where = f" {event.doc_id} {event.rev}".rstrip() if event.doc_id else ""
            print(f"{time.strftime('%H:%M:%S')} {event.kind.value:16}{where} {event.detail}".rstrip(),
                  flush=True)

    stop = threading.Event()
    if args.continuous:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        if args.duration:
            threading.Timer(args.duration, stop.set).start()
    mode = "continuous" if args.continuous else "one-shot"
    direction = "push+pull" if push and pull else ("push" if push else "pull")
    print(f"device {device.name} -> {device.url} ({mode} {direction}, checkpoint {device.checkpoint_id})",
          flush=True)
    started = time.monotonic()
    stats = device.sync(push=push, pull=pull, continuous=args.continuous,
                        timeout=None if args.continuous else args.timeout, stop=stop, observer=observe)
    elapsed = time.monotonic() - started
    summary = {"elapsed_s": round(elapsed, 3), "docs_pushed": stats.docs_pushed,
               "docs_pulled": stats.docs_pulled, "changes_rows": stats.changes_rows,
               "attachments_pulled": stats.attachments_pulled, "rejected": stats.rejected,
               "conflicts": stats.conflicts, "purged": stats.purged, "norevs": stats.norevs,
               "errors": stats.errors, "local_documents": len(device.store)}
    print(json.dumps(summary, indent=2))
    return 1 if stats.errors else 0


