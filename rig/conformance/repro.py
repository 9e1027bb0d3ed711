"""Reproduce a known Sync Gateway defect on a fresh local gateway, with its debug log and the wire order.

    python -m rig.conformance.repro [NAME] [--out DIR]

Starts the gateway built from source (``rig gateway build``), turns on the log
keys that show the defect (CRUD, Changes, Sync, SyncMsg, Cache at debug), runs
the defect's case (rig/conformance/moves.py) with a trace of every message the
gateway sends the awake device, and prints: the oracle's findings, the messages
in the order they arrived, and the gateway's log lines about the document.
Exit status: 0 when the documented findings appeared (defect reproduced), 3
when there were none (the gateway no longer has it), 1 for anything else.
See docs/known-gateway-defects.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

from rig.blip import BlipEvent, Request
from rig.conformance import create_database, default_spec_path
from rig.conformance.harness import Harness
from rig.conformance.moves import KNOWN_GATEWAY_DEFECTS, KnownGatewayDefect
from rig.gateway import AdminClient, DatabaseSpec, LocalGateway
from rig.gateway.build import DEFAULT_VERSION, build, find_binary
from rig.oracle import load, render

LOG_KEYS = ("CRUD", "Changes", "Sync", "SyncMsg", "Cache")
_LOG_LINE = re.compile(r"n-big|Sent \d+ changes to client|Sending rev|Sending changes since|Sending norev")


def _stamp(wall: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(wall)) + f".{int(wall % 1 * 1000):03d}Z"


def _describe(event: BlipEvent) -> str | None:
    if not isinstance(event, Request):
        return None
    props = event.properties
    if event.profile == "changes":
        rows = json.loads(event.body) if event.body else None
        return f"changes {json.dumps(rows)[:200]}"
    if event.profile in ("rev", "norev"):
        return (f"{event.profile} id={props.get('id')} rev={props.get('rev')} sequence={props.get('sequence')} "
                f"history={props.get('history', '')} body={len(event.body)} bytes")
    return None


def reproduce(name: str, out: Path) -> int:
    defect = KNOWN_GATEWAY_DEFECTS[name]
    binary = find_binary(DEFAULT_VERSION) or build(DEFAULT_VERSION)
    spec = load(default_spec_path())
    sync = out / f"{spec.name}.js"
    out.mkdir(parents=True, exist_ok=True)
    sync.write_text(render(spec))
    wire: list[str] = []

    def tap(_: float, event: BlipEvent) -> None:
        text = _describe(event)
        if text is not None:
            wire.append(f"{_stamp(time.time())} device <- {text}")

    print(f"reproducing {name} ({defect.doc}) on {binary}; gateway log in {out / 'gateway'}", flush=True)
    with LocalGateway(binary, out / "gateway", databases=[DatabaseSpec("boot")]) as gateway:
        httpx.put(f"{gateway.admin_url}/_logging", params={"logLevel": "debug"},
                  json=dict.fromkeys(LOG_KEYS, True), timeout=10).raise_for_status()
        admin = AdminClient(gateway.admin_url, gateway.metrics_url)
        create_database(admin, "repro", sync)
        harness = Harness(admin, gateway.public_url, "repro", spec)
        harness.create_principals()
        harness.tap = tap
        defect.case(harness)
        findings = harness.findings()
        log = gateway.log_path.read_text(errors="replace").splitlines()
    print("\nfindings:" if findings else "\nno findings", *(f"  {f}" for f in findings), sep="\n")
    print("\nwhat the gateway sent the awake device, in arrival order:", *(f"  {w}" for w in wire), sep="\n")
    print("\nthe gateway's log about it:", *(f"  {line[:300]}" for line in log if _LOG_LINE.search(line)),
          sep="\n")
    try:
        defect.judge(findings)
    except KnownGatewayDefect:
        print(f"\nREPRODUCED: {defect.doc}")
        return 0
    except AssertionError as exc:
        print(f"\nUNEXPECTED: {exc}")
        return 1
    print(f"\nNOT REPRODUCED: no findings; this gateway may no longer have the defect ({defect.doc})")
    return 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rig.conformance.repro", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", default=sorted(KNOWN_GATEWAY_DEFECTS)[0],
                        choices=sorted(KNOWN_GATEWAY_DEFECTS))
    parser.add_argument("--out", type=Path, default=None, help="folder for the gateway's config and log")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="rig-repro-"))
    return reproduce(args.name, out)


if __name__ == "__main__":
    sys.exit(main())
