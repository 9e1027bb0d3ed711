"""Fixtures for the BLIP codec tests: a connected pair of codecs and a hand-made frame writer."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import pytest

from rig.blip import BlipConnection, BlipEvent, decode_frame_header
from rig.blip._varint import encode_uvarint


class Pair:
    """Two codecs wired back to back; ``a`` and ``b`` collect the events each one received."""

    def __init__(self, **kwargs: Any) -> None:
        self.a = BlipConnection(**kwargs)
        self.b = BlipConnection(**kwargs)
        self.max_payload: int = kwargs.get("max_frame_payload", 16374)
        self.a_events: list[BlipEvent] = []
        self.b_events: list[BlipEvent] = []
        self.frames = 0

    def check_size(self, frame: bytes) -> None:
        number, flags = decode_frame_header(frame)
        header = len(encode_uvarint(number)) + len(encode_uvarint(flags))
        assert len(frame) <= self.max_payload + header + 4, (len(frame), self.max_payload)

    def deliver(self, src: BlipConnection, dst: BlipConnection) -> list[BlipEvent]:
        """Move every frame src has now into dst; return dst's events."""
        events: list[BlipEvent] = []
        for frame in src.data_to_send():
            self.check_size(frame)
            self.frames += 1
            events.extend(dst.receive_frame(frame))
        (self.b_events if dst is self.b else self.a_events).extend(events)
        return events

    def pump(self, on_event: Callable[[BlipConnection, BlipEvent], None] | None = None) -> None:
        """Exchange frames both ways until neither side has anything to send.

        ``on_event(receiver, event)`` runs as each event arrives, so replies sent from it
        interleave with frames still in flight.
        """
        for _ in range(100_000):
            progressed = False
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                for frame in src.data_to_send():
                    progressed = True
                    self.check_size(frame)
                    self.frames += 1
                    events = dst.receive_frame(frame)
                    (self.b_events if dst is self.b else self.a_events).extend(events)
                    if on_event is not None:
                        for event in events:
                            on_event(dst, event)
            if not progressed:
                return
        raise AssertionError("the pair never went quiet")


class RawSender:
    """Writes frames by hand (running CRC, optional raw deflate) to feed a codec odd input."""

    def __init__(self, level: int = 6) -> None:
        self.crc = 0
        self.z = zlib.compressobj(level, zlib.DEFLATED, -15)

    def frame(self, number: int, flags: int, payload: bytes, *, deflated: bytes | None = None) -> bytes:
        """Frame with ``payload`` (uncompressed bytes); ``deflated`` replaces it on the wire."""
        self.crc = zlib.crc32(payload, self.crc)
        wire = payload if deflated is None else deflated
        return encode_uvarint(number) + encode_uvarint(flags) + wire + self.crc.to_bytes(4, "big")

    @staticmethod
    def message(properties: dict[str, str], body: bytes = b"") -> bytes:
        """uvarint(len(P)) ‖ P ‖ body, written independently of the codec."""
        block = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in properties.items())
        return encode_uvarint(len(block)) + block + body

    def compressed(self, number: int, flags: int, payload: bytes, *, flushes: int = 1) -> bytes:
        """A compressed frame (Compressed flag added), sync-flushed ``flushes`` times."""
        out = b""
        step = max(1, len(payload) // flushes)
        for i in range(0, len(payload), step):
            out += self.z.compress(payload[i : i + step]) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return self.frame(number, flags | 0x08, payload, deflated=out[:-4])


@pytest.fixture
def pair() -> Pair:
    return Pair()


@pytest.fixture
def make_pair() -> Callable[..., Pair]:
    return Pair


@pytest.fixture
def raw() -> RawSender:
    return RawSender()
