"""The soak's final check starts only once the gateway has stopped storing and its changes feed has caught up."""

from __future__ import annotations

import time
from typing import Any

import pytest

from rig.bench import soak


class _Gateway:
    """Admin calls the wait makes, against update sequences the gateway reports in turn."""

    def __init__(self, update_seqs: list[int]) -> None:
        self.update_seqs = update_seqs
        self.calls: list[str] = []

    def database(self, db: str) -> dict[str, Any]:
        self.calls.append("database")
        return {"update_seq": self.update_seqs.pop(0) if len(self.update_seqs) > 1 else self.update_seqs[0]}

    def wait_for_changes_feed(self, db: str) -> None:
        self.calls.append("changes_feed")


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda s: None)


def test_it_waits_while_late_writes_still_land_then_for_the_changes_feed() -> None:
    gateway = _Gateway([100, 104, 107, 107])
    soak.wait_until_quiet(gateway, "soak")  # type: ignore[arg-type]
    assert gateway.calls == ["database"] * 4 + ["changes_feed"]


def test_a_quiet_gateway_costs_one_settle_period() -> None:
    gateway = _Gateway([50])
    soak.wait_until_quiet(gateway, "soak")  # type: ignore[arg-type]
    assert gateway.calls == ["database", "database", "changes_feed"]
