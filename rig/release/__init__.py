"""`rig release-check`: compare Sync Gateway builds for conformance and cost (see docs/release-check.md)."""
