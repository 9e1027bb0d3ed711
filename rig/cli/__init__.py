"""The `rig` command line: argparse dispatch, each subcommand imported lazily."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from rig._errors import RigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rig", description="Load and conformance test rig for Couchbase Mobile sync."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from rig.cli import bench, check, conform, device, gateway, image, release_check, report, run, walkthrough

    gateway.register(commands)
    image.register(commands)
    device.register(commands)
    bench.register(commands)
    walkthrough.register(commands)
    run.register(commands)
    conform.register(commands)
    report.register(commands)
    check.register(commands)
    release_check.register(commands)
    return parser


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] in (["run"], ["worker"]) or (words[:2] == ["bench", "fleet"] and "--gevent" in words):
        import rig.load._early  # noqa: F401  (gevent's patching first, before httpx loads ssl)
    parser = _parser()
    args = parser.parse_args(argv)
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so gateways and workers are stopped.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code: int = args.handler(args)
    except RigError as exc:
        print(f"rig: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rig: interrupted", file=sys.stderr)
        return 130
    return code
