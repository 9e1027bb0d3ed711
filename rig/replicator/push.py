"""The push side: proposeChanges, then rev with history; serving the gateway's attachment requests."""

from __future__ import annotations

import json
from collections import deque
from functools import partial
from typing import Any

from rig.blip import ErrorResponse, Request, Response
from rig.replicator.link import EventKind, Link
from rig.replicator.revisions import attachment_proof
from rig.replicator.store import Document
from rig.replicator.versions import Version, is_rev_tree_id

# Couchbase Lite's limits (LiteCore ReplicatorTuning.hh): 200 changes per proposal, at most 5 proposal
# lists (1 once a continuous push has caught up), no more lists while 600 accepted revs wait to be sent,
# 10 revs and 2 MB of rev bodies awaiting replies.
PROPOSAL_SIZE = 200
MAX_PROPOSALS_IN_FLIGHT = 5
MAX_PROPOSALS_IN_FLIGHT_CAUGHT_UP = 1
MAX_REVS_QUEUED = 600
MAX_REVS_IN_FLIGHT = 10
MAX_REV_BYTES_AWAITING_REPLY = 2 * 1024 * 1024


class Pusher:
    def __init__(self, link: Link, *, continuous: bool) -> None:
        self.link = link
        self.continuous = continuous
        self._in_flight: set[str] = set()
        """Documents proposed or being sent: never two revs of one document at once."""
        self._to_send: deque[tuple[str, str]] = deque()
        self._revs_in_flight = 0
        self._rev_bytes_awaiting_reply = 0
        self._proposals_in_flight = 0
        self._exhausted = False
        self._caught_up = False
        """A continuous push that once proposed everything pending: from then on one proposal at a time
        (LiteCore Pusher::_maybeGetMoreChanges), so writes made meanwhile go out together in the next one."""
        self.started = False
        self._announce_caught_up = False
        self._forbidden_once: set[tuple[str, str]] = set()
        """Revisions the gateway refused with 403 once in this replication (LiteCore RevToSend::retryCount)."""
        self._to_retry: dict[str, str] = {}
        self._proposed_against: dict[str, str] = {}
        """doc ID -> the server revision its proposal in flight named as its parent (the pull may learn a
        newer one meanwhile: a 409 is judged against what was proposed); dropped when the reply comes."""
        """Document -> its 403 revision, waiting to be proposed again when the pusher would otherwise go idle."""

    @property
    def _quiet(self) -> bool:
        return (self.started and self._exhausted and not self._in_flight and not self._to_send
                and self._proposals_in_flight == 0)

    @property
    def idle(self) -> bool:
        """Nothing in flight, nothing left that could be proposed, no refused write waiting for its retry."""
        return self._quiet and not self._to_retry

    def start(self) -> None:
        self.started = True
        # LiteCore reads its local changes feed in batches of 200 and sends an empty `proposeChanges`
        # (no reply) whenever a read comes back empty (Pusher::gotChanges/sendChanges): a one-shot
        # push whose pending count is a multiple of 200 (0 included), and every continuous push once
        # its feed has caught up.
        pending = len(self.link.store.pending())
        self._announce_caught_up = self.continuous or pending % PROPOSAL_SIZE == 0
        self.propose()

    def notify_local_change(self) -> None:
        """A local edit (or a conflict resolved in our favour) made something new to push."""
        self._exhausted = False
        self.propose()

    def propose(self) -> None:
        """Propose pending local changes not already in flight, as far as the limits allow."""
        limit = MAX_PROPOSALS_IN_FLIGHT_CAUGHT_UP if self._caught_up else MAX_PROPOSALS_IN_FLIGHT
        if not self.started or self._proposals_in_flight >= limit or len(self._to_send) >= MAX_REVS_QUEUED:
            # (LiteCore asks its database for more changes only under both limits: a gateway slow to take
            # revs is not sent proposals for ever more of them.)
            return
        candidates = [d for d in self.link.store.pending()
                      if d.doc_id not in self._in_flight and self._to_retry.get(d.doc_id) != d.rev]
        while candidates and self._proposals_in_flight < limit:
            batch, candidates = candidates[:PROPOSAL_SIZE], candidates[PROPOSAL_SIZE:]
            # Version vectors: the whole vector (Sync Gateway checks it for dominance), then the server's CV.
            rows = [[d.doc_id, d.vector.text if d.vector is not None else d.rev, d.remote_rev or ""] for d in batch]
            for doc in batch:
                self._in_flight.add(doc.doc_id)
                self._proposed_against[doc.doc_id] = doc.remote_rev or ""
            self._proposals_in_flight += 1
            proposed = [(d.doc_id, d.rev) for d in batch]
            self.link.request({"Profile": "proposeChanges", "conflictIncludesRev": "true"},
                              json.dumps(rows, separators=(",", ":")).encode(),
                              on_reply=partial(self._on_proposal_reply, proposed),
                              urgent=True, compress=True)
        self._exhausted = not candidates
        if self._exhausted and self.continuous:
            self._caught_up = True
        if self._exhausted and self._announce_caught_up:
            self._announce_caught_up = False
            self.link.request({"Profile": "proposeChanges", "conflictIncludesRev": "true"}, b"[]", urgent=True)

    def _on_proposal_reply(self, proposed: list[tuple[str, str]], reply: Response | ErrorResponse) -> None:
        self._proposals_in_flight -= 1
        if isinstance(reply, ErrorResponse):
            for doc_id, rev in proposed:
                self._in_flight.discard(doc_id)
                self._proposed_against.pop(doc_id, None)
                self.link.report(EventKind.ERROR, doc_id, rev,
                                 f"{reply.domain} {reply.code}: proposeChanges: {reply.message}")
            self._retry_when_quiet()
            return
        statuses: list[Any] = json.loads(reply.body) if reply.body else []
        store = self.link.store
        retry = False
        for index, (doc_id, rev) in enumerate(proposed):
            status = statuses[index] if index < len(statuses) and statuses[index] is not None else 0
            code = status.get("status", 0) if isinstance(status, dict) else int(status)
            proposed_against = self._proposed_against.pop(doc_id, None)
            # Sent before without a reply: the gateway has it only if it answers 304 now.
            reply_was_lost = store.awaiting_reply.pop(doc_id, None) == rev
            if code == 0:
                self._to_send.append((doc_id, rev))
                continue
            self._in_flight.discard(doc_id)
            if self._changed_since(doc_id, rev):
                # A newer local revision (an edit, or a conflict the pull resolved in our favour) waited
                # for this reply: it is proposed below, as LiteCore's pusher treats the old one as obsolete.
                self._exhausted = False
            if code == 304:
                if reply_was_lost:
                    store.pushed_reply_lost += 1
                store.mark_pushed(doc_id, rev)
            elif code == 409:
                server_rev = status.get("rev", "") if isinstance(status, dict) else ""
                if self._server_has_our_ancestor(doc_id, rev, server_rev, proposed_against):
                    retry = True
                    continue
                self._stall(doc_id, rev, EventKind.CONFLICT, f"409 conflict with server revision {server_rev}")
            else:
                self.link.report(EventKind.ERROR, doc_id, rev, f"HTTP {code}: proposeChanges")
        self._send_revs()
        if retry:
            self._exhausted = False
        if not self._exhausted:
            self.propose()
        self._retry_when_quiet()

    def _changed_since(self, doc_id: str, rev: str) -> bool:
        doc = self.link.store.get(doc_id)
        return doc is not None and doc.rev != rev

    def _server_has_our_ancestor(self, doc_id: str, rev: str, server_rev: str, proposed_against: str | None) -> bool:
        """A 409 whose server revision is an ancestor of ours is no conflict: the server got a revision
        of ours whose reply we never saw (a dropped connection), so we proposed against an older one.
        As Couchbase Lite does (`conflictIncludesRev`), take the server's revision as the remote
        ancestor and propose again; a second 409 against the same revision is a real conflict."""
        doc = self.link.store.get(doc_id)
        if doc is None or doc.rev != rev or not server_rev \
                or server_rev == (doc.remote_rev or "" if proposed_against is None else proposed_against):
            return False
        if doc.vector is not None:
            if is_rev_tree_id(server_rev) or not doc.vector.dominates(Version.parse(server_rev)):
                return False
        elif server_rev not in doc.history:
            return False
        doc.remote_rev = server_rev
        return True

    def _stall(self, doc_id: str, rev: str, kind: EventKind, detail: str) -> None:
        doc = self.link.store.get(doc_id)
        if doc is not None and doc.rev == rev:
            doc.stalled_rev = rev
        if kind is EventKind.CONFLICT:
            self.link.stats.conflicts += 1
        else:
            self.link.stats.rejected += 1
        self.link.report(kind, doc_id, rev, detail)

    def _send_revs(self) -> None:
        store = self.link.store
        # As Pusher::maybeSendMoreRevs: another rev while fewer than 10 are in flight and at most 2 MB await replies.
        while self._to_send and self._revs_in_flight < MAX_REVS_IN_FLIGHT and \
                self._rev_bytes_awaiting_reply <= MAX_REV_BYTES_AWAITING_REPLY:
            doc_id, rev = self._to_send.popleft()
            doc = store.get(doc_id)
            if doc is None or doc.rev != rev:
                # Changed or purged since it was proposed: propose the new state instead.
                self._in_flight.discard(doc_id)
                self._exhausted = False
                continue
            self._revs_in_flight += 1
            store.awaiting_reply[doc_id] = rev
            self._rev_bytes_awaiting_reply += len(doc.body)
            self.link.stats.bytes_pushed += len(doc.body)
            # LiteCore deflates every rev it pushes (Pusher+Revs.cc), whatever its size.
            self.link.request(self._rev_properties(doc), doc.body,
                              on_reply=partial(self._on_rev_reply, doc_id, rev, len(doc.body)),
                              compress=bool(doc.body))

    @staticmethod
    def _rev_properties(doc: Document) -> dict[str, str]:
        if doc.vector is not None:
            # rev = the current version; history = the rest of the vector (LiteCore Pusher+Revs.cc).
            props = {"Profile": "rev", "id": doc.doc_id, "rev": doc.rev, "noconflicts": "true",
                     "sequence": str(doc.local_seq)}
            if doc.vector.history:
                props["history"] = doc.vector.history
            if doc.deleted:
                props["deleted"] = "1"
            return props
        history = doc.history
        if doc.remote_rev is not None and doc.remote_rev in history:
            # The gateway needs the chain only back to a revision it has.
            history = history[: history.index(doc.remote_rev) + 1]
        props = {"Profile": "rev", "id": doc.doc_id, "rev": doc.rev, "noconflicts": "true",
                 "sequence": str(doc.local_seq)}
        if history:
            props["history"] = ",".join(history)
        if doc.deleted:
            props["deleted"] = "1"
        return props

    def _on_rev_reply(self, doc_id: str, rev: str, size: int, reply: Response | ErrorResponse) -> None:
        self._revs_in_flight -= 1
        self._rev_bytes_awaiting_reply -= size
        self._in_flight.discard(doc_id)
        self.link.store.awaiting_reply.pop(doc_id, None)
        if isinstance(reply, Response):
            self.link.store.mark_pushed(doc_id, rev)
            self.link.stats.docs_pushed += 1
            self.link.report(EventKind.PUSHED, doc_id, rev)
        elif reply.code == 403 and reply.domain == "HTTP" and (doc_id, rev) not in self._forbidden_once:
            # LiteCore (Pusher+Revs.cc, CBL-123) retries a forbidden write once: proposed and sent
            # again when the pusher would otherwise go idle, so the sync function runs twice.
            self._forbidden_once.add((doc_id, rev))
            self._to_retry[doc_id] = rev
        elif reply.code == 403 or reply.code == 401:
            # The sync function refused the write: recorded as rejected, never as success.
            self._stall(doc_id, rev, EventKind.REJECTED, f"{reply.code}: {reply.message}")
        elif reply.code == 409:
            self._stall(doc_id, rev, EventKind.CONFLICT, f"409: {reply.message}")
        else:
            self.link.report(EventKind.ERROR, doc_id, rev, f"{reply.domain} {reply.code}: {reply.message}")
        doc = self.link.store.get(doc_id)
        if doc is not None and doc.rev != rev:
            self._exhausted = False
        self._send_revs()
        if not self._exhausted:
            self.propose()
        self._retry_when_quiet()

    def _retry_when_quiet(self) -> None:
        """Propose the refused writes again once nothing else is in flight (LiteCore Pusher::afterEvent)."""
        if self._to_retry and self._quiet:
            self._to_retry.clear()
            self._exhausted = False
            self.propose()

    # The gateway asks for attachment bytes while our rev is pending -------------------------
    def on_get_attachment(self, request: Request) -> None:
        if request.no_reply:
            return  # nothing to answer (go-blip drops replies to NoReply requests too)
        data = self.link.store.blobs.get(request.properties.get("digest", ""))
        if data is None:
            self.link.blip.send_error(request.number, domain="HTTP", code=404, message="attachment not found")
            return
        self.link.stats.attachments_served += 1
        compress = request.properties.get("compress") == "true"
        self.link.blip.send_response(request.number, None, data, compress=compress)

    def on_prove_attachment(self, request: Request) -> None:
        if request.no_reply:
            return
        data = self.link.store.blobs.get(request.properties.get("digest", ""))
        if data is None:
            self.link.blip.send_error(request.number, domain="HTTP", code=404, message="attachment not found")
            return
        proof = attachment_proof(request.body, data)
        self.link.blip.send_response(request.number, None, proof.encode())


