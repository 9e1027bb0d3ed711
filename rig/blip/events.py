"""BLIP events: the complete messages the codec hands up, one class per kind.

Incoming frames are reassembled (and inflated, and checksummed) by
:class:`rig.blip.BlipConnection`; what comes out is one of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag


class MessageType(IntEnum):
    """The frame type, the low three bits of the flags byte."""

    MSG = 0
    RPY = 1
    ERR = 2
    ACK_MSG = 4
    ACK_RPY = 5


class FrameFlags(IntFlag):
    """Flag bits above the message type."""

    TYPE_MASK = 0x07
    COMPRESSED = 0x08
    URGENT = 0x10
    NO_REPLY = 0x20
    MORE_COMING = 0x40


@dataclass(frozen=True, slots=True)
class Request:
    """A complete request (MSG) from the peer."""

    number: int
    properties: dict[str, str]
    body: bytes = b""
    no_reply: bool = False
    urgent: bool = False

    @property
    def profile(self) -> str | None:
        return self.properties.get("Profile")


@dataclass(frozen=True, slots=True)
class Response:
    """A complete successful reply (RPY) to one of our requests."""

    number: int
    properties: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A complete error reply (ERR) to one of our requests."""

    number: int
    domain: str
    code: int
    message: str = ""
    properties: dict[str, str] = field(default_factory=dict)


BlipEvent = Request | Response | ErrorResponse
