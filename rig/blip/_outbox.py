"""Outgoing side of a BLIP connection: scheduling, fragmentation, deflate, CRC and flow control."""

from __future__ import annotations

import zlib
from collections import deque

from rig.blip._compression import Deflater
from rig.blip._varint import encode_uvarint
from rig.blip.events import FrameFlags, MessageType

KIND_REQUEST = 0
KIND_RESPONSE = 1

# go-blip's kMaxUnackedBytes: a message stops ("is iced") while more than this many of its
# bytes (after the frame headers) are unacknowledged.
MAX_UNACKED_BYTES = 128_000

_MORE = int(FrameFlags.MORE_COMING)
_URGENT = int(FrameFlags.URGENT)
_COMPRESSED = int(FrameFlags.COMPRESSED)
_BYTE: tuple[bytes, ...] = tuple(bytes((i,)) for i in range(256))
_ACK_FLAGS = (
    # Indexed by KIND_*: ACKMSG|Urgent|NoReply = 0x34, ACKRPY|Urgent|NoReply = 0x35.
    int(MessageType.ACK_MSG) | _URGENT | int(FrameFlags.NO_REPLY),
    int(MessageType.ACK_RPY) | _URGENT | int(FrameFlags.NO_REPLY),
)

# Deflate can grow incompressible data: with zlib's default memLevel a sync-flushed chunk costs
# at most 6 bytes more, plus 5 per extra block every 16383 input bytes. Compressed chunks are
# shortened by this much so a compressed frame is never longer than an uncompressed one.
_DEFLATE_BLOCK = 16383


def deflate_slack(max_frame_payload: int) -> int:
    """Bytes to keep free in a compressed frame for deflate's worst-case expansion."""
    return 8 + 5 * ((max_frame_payload - 1) // _DEFLATE_BLOCK)


def encode_ack(kind: int, number: int, byte_count: int) -> bytes:
    """Return an ACK frame: uvarint(number) ‖ uvarint(flags) ‖ uvarint(count), no CRC."""
    return b"".join((encode_uvarint(number), bytes((_ACK_FLAGS[kind],)), encode_uvarint(byte_count)))


class OutMessage:
    """One outgoing message being cut into frames."""

    __slots__ = ("bytes_acked", "bytes_sent", "chunk", "data", "flags", "iced", "kind", "number", "offset")

    def __init__(self, kind: int, number: int, flags: int, data: bytes, chunk: int) -> None:
        self.kind = kind
        self.number = number
        self.flags = flags
        # Slicing a memoryview does not copy; a single-frame message needs no slicing at all.
        self.data: bytes | memoryview = data if len(data) <= chunk else memoryview(data)
        self.chunk = chunk
        self.offset = 0
        self.bytes_sent = 0
        self.bytes_acked = 0
        self.iced = False


class Outbox:
    """Queues outgoing messages and turns them into frames in the order they must be written.

    Urgent messages go before normal ones; within a priority messages take turns frame by
    frame. A request never starts before every lower-numbered request has started, because
    the peer rejects a first frame whose number is not last-seen + 1.
    """

    __slots__ = ("_acks", "_active", "_crc", "_deflater", "_normal", "_unstarted", "_urgent")

    def __init__(self, compression_level: int) -> None:
        self._urgent: deque[OutMessage] = deque()
        self._normal: deque[OutMessage] = deque()
        # Requests not yet started, in number order; its head is the only one allowed to start.
        self._unstarted: deque[OutMessage] = deque()
        # Every queued or iced message by number << 1 | kind, to look up the peer's ACKs.
        self._active: dict[int, OutMessage] = {}
        self._acks: list[bytes] = []
        self._crc = 0
        self._deflater = Deflater(compression_level) if compression_level else None

    def push(self, msg: OutMessage) -> None:
        """Queue a new message behind the others of its priority."""
        if msg.kind == KIND_REQUEST:
            self._unstarted.append(msg)
        self._active[msg.number << 1 | msg.kind] = msg
        (self._urgent if msg.flags & _URGENT else self._normal).append(msg)

    def push_ack(self, frame: bytes) -> None:
        """Queue an ACK frame we owe the peer; it goes out before any message frame."""
        self._acks.append(frame)

    def on_ack(self, kind: int, number: int, byte_count: int) -> None:
        """Record the peer's ACK of one of our messages and thaw the message if it was iced."""
        msg = self._active.get(number << 1 | kind)
        if msg is None:
            return  # already finished (or never ours): go-blip ignores these too
        if byte_count > msg.bytes_acked:
            msg.bytes_acked = byte_count
        if msg.iced and msg.bytes_sent <= msg.bytes_acked + MAX_UNACKED_BYTES:
            msg.iced = False
            (self._urgent if msg.flags & _URGENT else self._normal).append(msg)

    @property
    def backlog(self) -> int:
        """Number of outgoing messages not completely sent yet (queued or iced)."""
        return len(self._active)

    def drain(self) -> list[bytes]:
        """Every frame that may be written now, ACKs first."""
        frames = self._acks
        self._acks = []
        urgent = self._urgent
        normal = self._normal
        unstarted = self._unstarted
        active = self._active
        append = frames.append
        emit = self._emit
        while urgent or normal:
            queue = urgent if urgent else normal
            msg = queue.popleft()
            if msg.offset == 0 and msg.kind == KIND_REQUEST:
                first = unstarted[0]
                if first is not msg:
                    # An earlier request waits in the other queue: start it first.
                    queue.appendleft(msg)
                    msg = first
                    queue = urgent if msg.flags & _URGENT else normal
                    queue.remove(msg)
                unstarted.popleft()
            append(emit(msg))
            if msg.offset >= len(msg.data):
                del active[msg.number << 1 | msg.kind]
            elif msg.bytes_sent > msg.bytes_acked + MAX_UNACKED_BYTES:
                msg.iced = True
            else:
                queue.append(msg)
        return frames

    def _emit(self, msg: OutMessage) -> bytes:
        """Build the next frame of ``msg``, advancing the running CRC and the deflate stream."""
        data = msg.data
        start = msg.offset
        end = start + msg.chunk
        flags = msg.flags
        if end >= len(data):
            end = len(data)
            chunk = data if start == 0 else data[start:]
        else:
            flags |= _MORE
            chunk = data[start:end]
        msg.offset = end
        crc = self._crc = zlib.crc32(chunk, self._crc)
        number = msg.number
        number_bytes = _BYTE[number] if number < 0x80 else encode_uvarint(number)
        if flags & _COMPRESSED and self._deflater is not None:
            head, tail = self._deflater.deflate(chunk)
            frame = b"".join((number_bytes, _BYTE[flags], head, tail, crc.to_bytes(4, "big")))
        else:
            frame = b"".join((number_bytes, _BYTE[flags], chunk, crc.to_bytes(4, "big")))
        msg.bytes_sent += len(frame) - len(number_bytes) - 1
        return frame
