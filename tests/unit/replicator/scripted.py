"""A scripted gateway end for replicator tests without sockets: a real BLIP codec answering from a script.

Shared by the tests of tests/unit/replicator: `ScriptedPeer` records every request and answers it
per profile, `run` exchanges frames until nothing moves, `store_for` makes a device's store of a
release with a fixed source ID and clock."""

from __future__ import annotations

from collections.abc import Callable

from rig.blip import BlipConnection, ErrorResponse, Request, Response
from rig.replicator import LocalStore
from rig.replicator.clients import client_release
from rig.replicator.collection_group import CollectionsReplicator
from rig.replicator.replicator import Replicator, ReplicatorState
from rig.replicator.versions import HybridClock

Answer = Callable[[Request], tuple[dict[str, str] | None, bytes] | int | None]
"""A reply: (properties, body), an HTTP error code, or None for no reply yet."""


class ScriptedPeer:
    """The gateway's end of the connection: records every request and answers it from `answers`;
    records the replies and error replies it gets to its own requests."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.blip = BlipConnection()
        self.answers = answers
        self.received: list[Request] = []
        self.replies: list[Response] = []
        self.errors: list[ErrorResponse] = []

    def profiles(self) -> list[str]:
        return [r.profile for r in self.received]

    def take(self, frames: list[bytes]) -> None:
        for frame in frames:
            for event in self.blip.receive_frame(frame):
                if isinstance(event, Response):
                    self.replies.append(event)
                elif isinstance(event, ErrorResponse):
                    self.errors.append(event)
                if not isinstance(event, Request):
                    continue
                self.received.append(event)
                answer = self.answers.get(event.profile, lambda r: (None, b""))(event)
                if event.no_reply or answer is None:
                    continue
                if isinstance(answer, int):
                    self.blip.send_error(event.number, domain="HTTP", code=answer, message="scripted")
                else:
                    self.blip.send_response(event.number, answer[0], answer[1])


def run(replicator: Replicator | CollectionsReplicator, peer: ScriptedPeer, ours: BlipConnection, *,
        steps: int = 50, send: list[tuple[dict[str, str], bytes]] | None = None) -> None:
    """Start (if new) and exchange frames until nothing moves; `send` = requests the peer makes first."""
    if replicator.state is ReplicatorState.STARTING and not peer.received:
        replicator.start()
    for props, body in send or []:
        peer.blip.send_request(props, body, no_reply=props.get("Profile") == "changes" and body == b"null")
    for _ in range(steps):
        moved = False
        frames = ours.data_to_send()
        if frames:
            moved = True
            peer.take(frames)
        back = peer.blip.data_to_send()
        if back:
            moved = True
            for frame in back:
                for event in ours.receive_frame(frame):
                    replicator.handle(event)
        if not moved:
            return


def store_for(release: str) -> LocalStore:
    return LocalStore(client_release(release).versioning, source_id="DEVICEDEVICEDEVICEDEVI",
                      clock=HybridClock(lambda: 0x18EE000000000000))
