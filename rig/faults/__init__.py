"""Faults injected into a run: the gateway restarted, killed or paused; links slowed, cut or corrupted."""
