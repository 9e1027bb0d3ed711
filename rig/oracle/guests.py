"""The admin's guest grants of a routing load run (see rig.oracle.workload, "guest grants").

For every device of a user who may write a grant type (a team lead), the admin seeds one grant
document naming a guest from another team, and part way through the load phase updates half of
them (the grant must stay) and deletes the others (it must go): principals change while devices
sync. Which guest, which change, and in which round the changes go are all decided here, the same
in every process (no randomness).
"""

from __future__ import annotations

from typing import Any, Protocol

from rig.oracle.expect import World
from rig.oracle.names import user_name
from rig.oracle.routing import DocType, RoutingSpec

Change = tuple[str, dict[str, Any] | None]
"""(doc id, new body, or None to delete it)."""


class Workload(Protocol):
    """What the guest grants need of a routing workload."""

    spec: RoutingSpec
    users: int
    device_users: tuple[int, ...]

    def seed_world(self) -> World: ...
    def team(self, index: int) -> str: ...
    def grant_types(self) -> list[DocType]: ...
    def one_collection(self) -> bool: ...


class GuestGrants:
    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self._by_device: dict[str, tuple[str, dict[str, Any], int]] | None = None
        self._channels: dict[str, set[str]] | None = None

    def by_device(self) -> dict[str, tuple[str, dict[str, Any], int]]:
        """device key -> (doc id, body, rank) of the guest grant the admin seeds for that device: of a
        grant type its user may write, granting that user's team to a user of another team (the
        device's rank among its user's devices picks which, so no two devices share a document)."""
        if self._by_device is None:
            self._by_device = self._make()
        return self._by_device

    def _make(self) -> dict[str, tuple[str, dict[str, Any], int]]:
        w = self.workload
        made: dict[str, tuple[str, dict[str, Any], int]] = {}
        if not w.one_collection():
            return made  # channel arithmetic by bare channel name: the default collection only
        world = w.seed_world()
        ranks: dict[int, int] = {}
        for ordinal, user_index in enumerate(w.device_users):
            rank = ranks[user_index] = ranks.get(user_index, -1) + 1
            writer, key = user_name(user_index), f"d{ordinal}"
            for doc_type in w.grant_types():
                doc_id = f"{doc_type.name}.guest.{key}"
                targets = {f for g in doc_type.access for f in g.to.fields}
                body: dict[str, Any] = {w.spec.type_field: doc_type.name}
                body.update({f: w.team(user_index) for f in doc_type.placeholders() if f not in targets})
                probe = {**body, **{f: writer for f in targets}}
                if not world.decide(doc_id, writer, probe, False).accepted:
                    continue  # this user may not write the type
                granted = set(World(w.spec).apply_write(doc_id, "1-probe", probe, False).access)
                candidates = [i for i in range(w.users) if i != user_index
                              and not {c for _, c, _ in granted} & set(world.grants(user_name(i)))]
                if candidates:
                    guest = user_name(candidates[(rank + 2) % len(candidates)])
                    made[key] = (doc_id, {**body, **{f: guest for f in targets}}, rank)
                    break
        return made

    def channels(self) -> dict[str, set[str]]:
        """user -> channels a guest grant may give it."""
        if self._channels is None:
            world = World(self.workload.spec)
            self._channels = {}
            for doc_id, body, _ in self.by_device().values():
                for user, channel, _ in world.apply_write(doc_id, "1-probe", body, False).access:
                    self._channels.setdefault(user, set()).add(channel)
        return self._channels

    def changes(self) -> list[Change]:
        """The admin's changes of the guest grants mid-run: the grants of devices of even rank are
        updated (kept), those of odd rank deleted (revoked)."""
        return [(doc_id, None if rank % 2 else dict(body)) for doc_id, body, rank in self.by_device().values()]

    def rounds(self) -> list[list[Change]]:
        """`changes` in rounds in which no user's access changes twice, in order. Leads of different
        teams may pick the same guest, and Sync Gateway can lose a channel invalidation when two grants
        of one user change within a moment while its channels are being recomputed
        (docs/known-gateway-defects.md, "Lost channel invalidation"): the load run measures the sync
        function's routing, not that race."""
        world = World(self.workload.spec)
        bodies = {doc_id: body for doc_id, body, _ in self.by_device().values()}
        rounds: list[tuple[set[str], list[Change]]] = []
        for doc_id, body in self.changes():
            users = {user for user, _, _ in world.apply_write(doc_id, "1-probe", bodies[doc_id], False).access}
            free = next((r for r in rounds if not r[0] & users), None)
            if free is None:
                free = (set(), [])
                rounds.append(free)
            free[0].update(users)
            free[1].append((doc_id, body))
        return [changes for _, changes in rounds]
