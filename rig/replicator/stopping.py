"""Error replies that end the connection, as LiteCore's Replicator::onError (pure).

LiteCore turns a BLIP error in domain HTTP into WebSocket/<status> and, for the replies it
routes to `gotError` (getCheckpoint except 404, setCheckpoint except 409, getCollections,
subChanges, changes and proposeChanges), checks its `StoppingErrors`: WebSocket 503 ("The
server is over capacity") closes the connection with 4001 (kCloseAppTransient) and the
replicator retries with its backoff. Sync Gateway answers 503 to tell a client to reconnect
(a user whose reload failed, a database gone from under the request, a checkpoint it could
not read). A 503 to a pushed `rev` or to `getAttachment` is a document's (transient) error
in LiteCore, not the connection's, so it is left to the replicator.

The driver needs the Profile of the request a reply answers, which the codec does not keep:
`ProfiledBlip` remembers it for every request that awaits a reply.
"""

from __future__ import annotations

from collections.abc import Mapping

from rig._errors import RemoteUnavailable
from rig.blip import BlipConnection, ErrorResponse, Response

RECONNECT_STATUS = 503
CONNECTION_PROFILES = frozenset({"getCheckpoint", "setCheckpoint", "getCollections", "subChanges", "changes",
                                 "proposeChanges"})
"""Requests whose error reply LiteCore takes as the replication's error (Worker::gotError)."""


class ProfiledBlip(BlipConnection):
    """A BlipConnection that knows which Profile each of its awaited replies answers."""

    __slots__ = ("_profiles",)

    def __init__(self, **options: int) -> None:
        super().__init__(**options)
        self._profiles: dict[int, str] = {}

    def send_request(self, properties: Mapping[str, str], body: bytes = b"", *, no_reply: bool = False,
                     urgent: bool = False, compress: bool = False) -> int:
        number = super().send_request(properties, body, no_reply=no_reply, urgent=urgent, compress=compress)
        if not no_reply:
            self._profiles[number] = properties.get("Profile", "")
        return number

    @property
    def awaiting_replies(self) -> int:
        """Requests sent that the gateway has not answered yet (read from another thread: a len())."""
        return len(self._profiles)

    def answered(self, reply: Response | ErrorResponse) -> str:
        """The Profile of the request `reply` answers ("" if unknown); forgets it."""
        return self._profiles.pop(reply.number, "")


def stopping_error(profile: str, reply: Response | ErrorResponse) -> RemoteUnavailable | None:
    """The error that closes the connection with 4001 for this reply, or None to let the replicator handle it."""
    if not isinstance(reply, ErrorResponse) or reply.domain != "HTTP" or reply.code != RECONNECT_STATUS:
        return None
    if profile not in CONNECTION_PROFILES:
        return None
    return RemoteUnavailable(f"the gateway answered {profile} with HTTP {reply.code} ({reply.message!r}): "
                             "closing with 4001 to reconnect", profile=profile, status=reply.code)
