"""Frames recorded from the real Sync Gateway decode, in order, to the recorded messages.

The recording (`tests/data/frames/sg_session.json`, made by `record_frames.py`
next to it) covers a one-shot push and pull: ERR 404 for a missing
checkpoint, replies out of order, the gateway's getAttachment request,
compressed changes and rev messages with the running CRC and one inflater
across all of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rig._errors import RemoteBlipError
from rig.blip import BlipConnection, BlipEvent, ErrorResponse, FrameFlags, Request, Response, decode_frame_header

RECORDING = Path(__file__).parents[2] / "data" / "frames" / "sg_session.json"


def replay_codec(frames: list[bytes]) -> BlipConnection:
    """A fresh codec that has 'sent' as many requests as the recorded replies answer."""
    codec = BlipConnection()
    replies = [number for number, flags in map(decode_frame_header, frames) if flags & 0x07 in (1, 2)]
    for _ in range(max(replies, default=0)):
        codec.send_request({"Profile": "replayed"})
    codec.data_to_send()
    return codec


def event_as_json(event: BlipEvent) -> dict[str, Any]:
    if isinstance(event, Request):
        return {"type": "MSG", "number": event.number, "properties": event.properties,
                "body": event.body.decode(), "no_reply": event.no_reply}
    if isinstance(event, Response):
        return {"type": "RPY", "number": event.number, "properties": event.properties,
                "body": event.body.decode(errors="replace")}
    assert isinstance(event, ErrorResponse)
    return {"type": "ERR", "number": event.number, "domain": event.domain, "code": event.code,
            "message": event.message}


@pytest.fixture(scope="module")
def recording() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDING.read_text())
    return data


def test_recorded_frames_decode_to_the_recorded_messages(recording: dict[str, Any]) -> None:
    frames = [bytes.fromhex(f) for f in recording["frames"]]
    codec = replay_codec(frames)
    events = [event_as_json(e) for frame in frames for e in codec.receive_frame(frame)]
    assert events == recording["events"]
    profiles = [e["properties"].get("Profile") for e in events if e["type"] == "MSG"]
    assert profiles.count("rev") == 3
    assert "getAttachment" in profiles
    assert any(e["type"] == "ERR" and e["code"] == 404 for e in events)
    assert any(decode_frame_header(f)[1] & FrameFlags.COMPRESSED for f in frames)


def test_a_flipped_bit_in_a_recorded_compressed_frame_is_caught(recording: dict[str, Any]) -> None:
    frames = [bytes.fromhex(f) for f in recording["frames"]]
    index = next(i for i, f in enumerate(frames) if decode_frame_header(f)[1] & FrameFlags.COMPRESSED)
    corrupted = bytearray(frames[index])
    corrupted[-6] ^= 0x01
    codec = replay_codec(frames)
    for frame in frames[:index]:
        codec.receive_frame(frame)
    with pytest.raises(RemoteBlipError):
        codec.receive_frame(bytes(corrupted))
