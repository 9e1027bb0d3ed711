"""Sans-I/O BLIP v3 codec: frames in, complete messages out, and back."""

from rig.blip._connection import BlipConnection, decode_frame_header
from rig.blip.events import (
    BlipEvent,
    ErrorResponse,
    FrameFlags,
    MessageType,
    Request,
    Response,
)

__all__ = [
    "BlipConnection",
    "BlipEvent",
    "ErrorResponse",
    "FrameFlags",
    "MessageType",
    "Request",
    "Response",
    "decode_frame_header",
]
