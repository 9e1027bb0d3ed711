"""The rig: virtual Couchbase Lite devices replicating against a real Sync Gateway."""

__version__ = "0.1.0"
__all__ = ["__version__"]
