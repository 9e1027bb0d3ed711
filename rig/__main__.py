"""`python -m rig` runs the CLI."""

from rig.cli import main

raise SystemExit(main())
