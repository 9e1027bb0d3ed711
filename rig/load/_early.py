"""Imported first by `rig run`: locust patches the standard library with gevent at import, and
that patching must happen before ssl and threading are used."""

import contextlib

# httpcore imports trio when it is installed, and trio reads select.epoll, which gevent's
# patching removes: let trio load first where it exists.
with contextlib.suppress(ImportError):
    import trio  # noqa: F401

import locust  # noqa: F401
