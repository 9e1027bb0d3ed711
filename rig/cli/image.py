"""`rig image rig|prometheus`: local container images for the compose stack, with no registry."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    image = commands.add_parser(
        "image", help="build a local container image (no registry): the rig itself, or Prometheus",
        description="Builds through the Docker API (DOCKER_HOST). `rig image rig` puts this machine's Python, "
                    "the rig's run-time dependencies and this checkout into localhost/rig:TAG, the image "
                    "docker-compose.yml runs as rig-master and rig-worker; an image whose inputs are unchanged "
                    "is reused. Sync Gateway's image: `rig gateway image`.")
    which = image.add_subparsers(dest="image", required=True, metavar="IMAGE")
    rig = which.add_parser("rig", help="localhost/rig:TAG (python -m rig as its entry point)")
    rig.add_argument("--tag", default="latest", help="tag of localhost/rig (default latest, as compose expects)")
    rig.add_argument("--force", action="store_true", help="rebuild even if the image holds these inputs")
    rig.add_argument("-v", "--verbose", action="store_true", help="print the build's output")
    rig.set_defaults(handler=_rig)
    prometheus = which.add_parser("prometheus", help="localhost/prometheus:rig from Debian's prometheus binary")
    prometheus.add_argument("--binary", type=Path, default=Path("/usr/bin/prometheus"))
    prometheus.add_argument("--force", action="store_true")
    prometheus.set_defaults(handler=_prometheus)


def _rig(args: argparse.Namespace) -> int:
    from rig.image import rig_image

    started = time.monotonic()
    tag = rig_image(args.tag, force=args.force, progress=print if args.verbose else None)
    print(f"{tag} ({time.monotonic() - started:.1f}s)")
    return 0


def _prometheus(args: argparse.Namespace) -> int:
    from rig.gateway.image import prometheus_image

    started = time.monotonic()
    tag = prometheus_image(args.binary, force=args.force)
    print(f"{tag} ({time.monotonic() - started:.1f}s)")
    return 0
