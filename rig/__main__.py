"""`python -m rig` runs the CLI."""

import sys

if sys.argv[1:2] == ["run"] or (sys.argv[1:3] == ["bench", "fleet"] and "--gevent" in sys.argv):
    import rig.load._early  # noqa: F401  (gevent's patching before anything loads ssl)

from rig.cli import main

raise SystemExit(main())
