"""What a bench saw besides its timings, stated with every result because each moves the cost:

- whether the rig saturated while measuring (`rig.metrics.saturation`): a result measured with
  the rig at its own ceiling is marked `"valid": false` with the reason;
- the shape of the replication: rows per `changes` message (one-shot pulls get 200 rows a
  message, continuous replication one change at a time: the cost per document differs about 2x)
  and the conflicts met (devices' counts and Sync Gateway's `conflict_write_count`).

Rows come from the devices (`ReplicationStats.changes_rows`), messages from the gateway
(`sgw_replication_pull_request_changes_count`: the replies to its `changes` messages).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rig.gateway import AdminClient
from rig.metrics.saturation import SaturationMonitor, merge_summaries, monitor
from rig.replicator.link import ReplicationStats

GATEWAY_COUNTERS = {"changes_messages": "sgw_replication_pull_request_changes_count",
                    "revs_sent": "sgw_replication_pull_rev_send_count",
                    "docs_pushed": "sgw_replication_push_doc_push_count",
                    "rows_proposed": "sgw_replication_push_propose_change_count",
                    "conflict_writes": "sgw_database_conflict_write_count",
                    # The gateway's own backlog (rig.bench.bound): how long its rev writes took, how many
                    # writes reached its change cache (through rosmar's feed) and how late.
                    "push_write_ns": "sgw_replication_push_write_processing_time",
                    "doc_writes": "sgw_database_num_doc_writes",
                    "cached": "sgw_database_dcp_caching_count",
                    "caching_ns": "sgw_database_dcp_caching_time",
                    "revs_throttled": "sgw_replication_push_write_throttled_count"}


def gateway_counts(admin: AdminClient, db: str) -> dict[str, float]:
    """The gateway's counters for `db`, read in one scrape."""
    samples = admin.metrics()
    counts = {}
    for key, name in GATEWAY_COUNTERS.items():
        names = {name, f"{name}_total"}
        counts[key] = sum(s.value for s in samples if s.name in names and s.labels.get("database") == db)
    return counts


@dataclass(slots=True)
class DeviceCounts:
    changes_rows: int = 0
    conflicts: int = 0
    docs: int = 0

    @classmethod
    def of(cls, stats: Iterable[ReplicationStats | None]) -> DeviceCounts:
        total = cls()
        for s in stats:
            if s is not None:
                total.changes_rows += s.changes_rows
                total.conflicts += s.conflicts
                total.docs += s.docs_pulled + s.docs_pushed
        return total

    def minus(self, other: DeviceCounts) -> DeviceCounts:
        return DeviceCounts(self.changes_rows - other.changes_rows, self.conflicts - other.conflicts,
                            self.docs - other.docs)


def replication_shape(gateway_before: dict[str, float], gateway_after: dict[str, float],
                      devices: DeviceCounts) -> dict[str, Any]:
    """Rows per `changes` message and conflict rates over one measured interval."""
    delta = {k: gateway_after[k] - gateway_before[k] for k in GATEWAY_COUNTERS}
    messages = delta["changes_messages"]
    moved = delta["revs_sent"] + delta["docs_pushed"]
    return {"changes_messages": int(messages), "changes_rows": devices.changes_rows,
            "rows_per_changes_message": round(devices.changes_rows / messages, 1) if messages else None,
            "rows_proposed": int(delta["rows_proposed"]),
            "conflicts_seen_by_devices": devices.conflicts,
            "conflict_writes_on_gateway": int(delta["conflict_writes"]),
            "conflict_rate": round((devices.conflicts + delta["conflict_writes"]) / moved, 5) if moved else None}


class SaturationWatch:
    """The bench process's saturation over one measured interval: `start()`, work, `verdict()`."""

    def __init__(self, name: str = "bench") -> None:
        self.name = name
        self._monitor: SaturationMonitor | None = None

    def start(self) -> SaturationWatch:
        self._monitor = monitor(self.name)
        return self

    def verdict(self) -> dict[str, Any]:
        """{"valid", "invalid_reason", "rig"}: invalid when the rig saturated during the interval."""
        assert self._monitor is not None, "start() first"
        rig = merge_summaries([self._monitor.stop()])
        reason = None
        if rig["saturated"]:
            reason = (f"the rig was saturated for {rig['saturated_seconds']:.1f} s (up to {rig['cpu_ratio_max']:.2f} "
                      f"of a core, loop lag p99 {rig['loop_lag_p99_s']:.2f} s): this measures the rig, not the gateway")
        return {"valid": not rig["saturated"], "invalid_reason": reason,
                "rig": {k: v for k, v in rig.items() if k != "by_process"}}
