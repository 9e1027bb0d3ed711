"""Issue 13, done-when: a small fleet pulling under budget kills costs the gateway no more pulls from
zero than there were replications that really started without a checkpoint (real Sync Gateway).

Each device pulls a 1,500-document feed (long enough to span several checkpoint saves on a fast
machine) in one-shot wakes with short budgets (the session's deadline cuts the connection as the OS
kills the app) and saves its checkpoint every 50 ms. Half of the
checkpoint replies that arrive once the device already holds a checkpoint are lost to a kill that
lands just then (the gateway saved, the device never knew): the next wake finds its own copy one
save behind the gateway's. Couchbase Lite resumes from the earlier of the two; starting from 0
there would inflate `num_pull_repl_since_zero` and replay the whole feed.

With a `backfill` feed (the user was given the channel after the documents were written, so Sync
Gateway sends compound `triggeredBy:seq` sequences) Couchbase Lite 3.3 compares integers only and
starts from 0 on every such mismatch, as LiteCore 3.3's `validateWith` does; 3.4 and 4.1 order the
compound sequences and still resume.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from rig.blip import ErrorResponse, Response
from rig.device import VirtualDevice
from rig.gateway import AdminClient
from rig.replicator.replicator import Replicator
from rig.replicator.session import ReplicationTimedOut

pytestmark = pytest.mark.gateway

MakeDevice = Callable[..., VirtualDevice]
SINCE_ZERO = "sgw_replication_pull_num_pull_repl_since_zero"
DEVICES, DOCS, MAX_WAKES = 4, 1500, 80  # wakes: room for a loaded machine, where a connect can eat a budget


class KilledOnCheckpointReply(Exception):
    """The app was killed while the reply to its setCheckpoint was on the way (not a replication error)."""


@pytest.mark.parametrize("feed", ["plain", "backfill"])
def test_budget_kills_cost_no_extra_pull_from_zero(make_device: MakeDevice, admin: AdminClient, db: str, cbl: str,
                                                   feed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if feed == "plain":
        make_device("kim")  # the user exists first: the documents come as plain sequences
    admin.bulk_docs(db, [{"_id": f"doc-{i}", "channels": ["kim"], "n": i, "pad": "x" * 200} for i in range(DOCS)])
    admin.wait_for_changes_feed(db)
    rng = random.Random(13)
    lost_replies = 0
    on_saved = Replicator._on_saved

    def maybe_killed(self: Replicator, body: dict[str, Any], reply: Response | ErrorResponse) -> None:
        nonlocal lost_replies
        held = self.link.store.checkpoints.get(self.config.checkpoint_id)
        if isinstance(reply, Response) and held is not None and rng.random() < 0.5:
            lost_replies += 1
            raise KilledOnCheckpointReply("killed while the setCheckpoint reply was on its way")
        on_saved(self, body, reply)

    monkeypatch.setattr(Replicator, "_on_saved", maybe_killed)
    since_zero = admin.metric(SINCE_ZERO, database=db)
    starts_without_checkpoint = wakes = budget_kills = 0
    for n in range(DEVICES):
        device = make_device("kim", checkpoint_interval=0.05)
        for _ in range(MAX_WAKES):
            held = device.store.checkpoints.get(device.checkpoint_id)
            starts_without_checkpoint += held is None or held.get("remote") in (None, "")
            wakes += 1
            try:
                device.sync(push=False, timeout=rng.uniform(0.3, 1.0))
                break
            except ReplicationTimedOut:
                budget_kills += 1
            except KilledOnCheckpointReply:
                pass
        assert len(device.store) == DOCS, f"device {n} did not finish in {MAX_WAKES} wakes"

    from_zero = admin.metric(SINCE_ZERO, database=db) - since_zero
    print(f"{DEVICES} devices, {wakes} wakes, {budget_kills} budget kills, {lost_replies} checkpoint replies lost, "
          f"{starts_without_checkpoint} starts without a checkpoint, {from_zero:.0f} pulls from zero")
    assert lost_replies > 0 and wakes > DEVICES  # the kills really happened
    if feed == "backfill" and cbl == "3.3":
        # LiteCore 3.3: a compound mismatch resets to 0, so pulls from zero are at least the fresh starts (and
        # more whenever a lost reply is followed by another wake; the rule: tests/unit/replicator/test_resume.py).
        assert from_zero >= starts_without_checkpoint
    else:
        assert DEVICES <= from_zero <= starts_without_checkpoint
