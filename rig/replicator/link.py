"""What the puller and pusher share: the BLIP connection, reply routing, the store, reporting."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from rig.blip import BlipConnection, ErrorResponse, Response
from rig.replicator.store import LocalStore

ReplyHandler = Callable[[Response | ErrorResponse], None]


class EventKind(Enum):
    PULLED = "pulled"
    PUSHED = "pushed"
    REJECTED = "rejected"
    CONFLICT = "conflict"
    PURGED = "purged"
    NOREV = "norev"
    ERROR = "error"
    CAUGHT_UP = "caught_up"
    CHECKPOINT_SAVED = "checkpoint_saved"


@dataclass(frozen=True, slots=True)
class ReplicationEvent:
    """Something the replicator did that a user, a metric or the oracle wants to know."""

    kind: EventKind
    doc_id: str = ""
    rev: str = ""
    detail: str = ""
    body: bytes = b""


@dataclass(slots=True)
class ReplicationStats:
    docs_pulled: int = 0
    docs_pushed: int = 0
    bytes_pulled: int = 0
    bytes_pushed: int = 0
    changes_rows: int = 0
    attachments_pulled: int = 0
    attachments_served: int = 0
    rejected: int = 0
    conflicts: int = 0
    purged: int = 0
    norevs: int = 0
    errors: int = 0
    errors_by_status: dict[str, int] = field(default_factory=dict)


Observer = Callable[[ReplicationEvent], None]


class Link:
    """Sends requests, remembers who awaits each reply, and reports events."""

    def __init__(self, blip: BlipConnection, store: LocalStore, observer: Observer | None) -> None:
        self.blip = blip
        self.store = store
        self.stats = ReplicationStats()
        self._observer = observer
        self._awaiting: dict[int, ReplyHandler] = {}
        self.collection: str | None = None
        """Collection-aware mode (after `getCollections`): the index every per-collection message names.
        One Link per collection when a replication has several (each with its own puller, pusher and
        checkpoint); None in legacy mode (default collection, no `collection` property)."""

    def request(self, properties: Mapping[str, str], body: bytes = b"", *,
                on_reply: ReplyHandler | None = None, urgent: bool = False, compress: bool = False) -> int:
        if self.collection is not None and properties.get("Profile") != "getCollections":
            properties = {**properties, "collection": self.collection}
        number = self.blip.send_request(properties, body, no_reply=on_reply is None, urgent=urgent,
                                        compress=compress)
        if on_reply is not None:
            self._awaiting[number] = on_reply
        return number

    def deliver_reply(self, reply: Response | ErrorResponse) -> bool:
        handler = self._awaiting.pop(reply.number, None)
        if handler is None:
            return False
        handler(reply)
        return True

    @property
    def replies_awaited(self) -> int:
        return len(self._awaiting)

    def report(self, kind: EventKind, doc_id: str = "", rev: str = "", detail: str = "",
               body: bytes = b"") -> None:
        if kind is EventKind.ERROR:
            self.stats.errors += 1
            key = detail.split(":", 1)[0]
            self.stats.errors_by_status[key] = self.stats.errors_by_status.get(key, 0) + 1
        if self._observer is not None:
            self._observer(ReplicationEvent(kind, doc_id, rev, detail, body))
