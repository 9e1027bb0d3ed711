"""BlipConnection: the sans-I/O BLIP v3 codec for one WebSocket connection."""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from rig._errors import LocalBlipError, RemoteBlipError
from rig.blip._compression import Inflater
from rig.blip._outbox import (
    KIND_REQUEST,
    KIND_RESPONSE,
    Outbox,
    OutMessage,
    deflate_slack,
    encode_ack,
)
from rig.blip._properties import decode_message, encode_message
from rig.blip._varint import decode_uvarint
from rig.blip.events import BlipEvent, ErrorResponse, FrameFlags, MessageType, Request, Response

# go-blip's kAckInterval: ACK an incoming message each time its byte count crosses a multiple.
ACK_INTERVAL = 50_000
MIN_FRAME_PAYLOAD = 64
_COPY_LIMIT = 2048

_MSG = int(MessageType.MSG)
_RPY = int(MessageType.RPY)
_ERR = int(MessageType.ERR)
_ACK_MSG = int(MessageType.ACK_MSG)
_ACK_RPY = int(MessageType.ACK_RPY)
_COMPRESSED = int(FrameFlags.COMPRESSED)
_URGENT = int(FrameFlags.URGENT)
_NO_REPLY = int(FrameFlags.NO_REPLY)
_MORE = int(FrameFlags.MORE_COMING)


def decode_frame_header(frame: bytes | bytearray | memoryview) -> tuple[int, int]:
    """Return ``(message number, flags)`` of a frame; for debugging and logging."""
    number, pos = decode_uvarint(frame, 0)
    flags, _ = decode_uvarint(frame, pos)
    return number, flags


class _InMessage:
    """An incoming message whose last frame has not arrived yet."""

    __slots__ = ("chunks", "flags", "received")

    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.chunks: list[bytes | memoryview] = []
        self.received = 0  # bytes after the frame headers, as ACKs count them


class BlipConnection:
    """Both directions of one BLIP connection, without sockets, clocks or threads.

    Feed every binary WebSocket message to :meth:`receive_frame`; write every item of
    :meth:`data_to_send` as one binary WebSocket message, in order.
    """

    __slots__ = (
        "_awaiting",
        "_broken",
        "_chunk",
        "_chunk_compressed",
        "_compress_ok",
        "_in_crc",
        "_in_requests",
        "_inflater",
        "_last_in_request",
        "_last_out_request",
        "_outbox",
        "_replyable",
    )

    def __init__(self, *, compression_level: int = 6, max_frame_payload: int = 16374) -> None:
        if not 0 <= compression_level <= 9:
            raise LocalBlipError(f"compression_level must be 0..9, not {compression_level}")
        if max_frame_payload < MIN_FRAME_PAYLOAD:
            raise LocalBlipError(f"max_frame_payload must be at least {MIN_FRAME_PAYLOAD}")
        self._chunk = max_frame_payload
        self._chunk_compressed = max_frame_payload - deflate_slack(max_frame_payload)
        # Like go-blip, level 0 means "never compress" rather than "deflate in stored blocks".
        self._compress_ok = compression_level > 0
        self._outbox = Outbox(compression_level)
        self._last_out_request = 0
        # Our requests that expect a reply: None until the reply's first frame arrives.
        self._awaiting: dict[int, _InMessage | None] = {}
        self._inflater = Inflater()
        self._in_crc = 0
        self._last_in_request = 0
        self._in_requests: dict[int, _InMessage] = {}
        # Peer requests handed up that still owe a reply -> their Urgent flag (replies inherit it).
        self._replyable: dict[int, int] = {}
        self._broken: RemoteBlipError | None = None

    # ----------------------------------------------------------------- sending

    def send_request(
        self,
        properties: Mapping[str, str],
        body: bytes = b"",
        *,
        no_reply: bool = False,
        urgent: bool = False,
        compress: bool = False,
    ) -> int:
        """Queue an outgoing request (MSG); return its number (1, 2, 3, ... in this direction)."""
        data = encode_message(properties, body)
        flags = _MSG | (_NO_REPLY if no_reply else 0) | (_URGENT if urgent else 0)
        number = self._last_out_request + 1
        self._queue(KIND_REQUEST, number, flags, data, compress)
        self._last_out_request = number
        if not no_reply:
            self._awaiting[number] = None
        return number

    def send_response(
        self,
        request_number: int,
        properties: Mapping[str, str] | None = None,
        body: bytes = b"",
        *,
        compress: bool = False,
    ) -> None:
        """Queue the successful reply (RPY) to the peer's request ``request_number``."""
        data = encode_message(properties or {}, body)
        urgent = self._take_replyable(request_number)
        self._queue(KIND_RESPONSE, request_number, _RPY | urgent, data, compress)

    def send_error(self, request_number: int, *, code: int, domain: str = "BLIP", message: str = "") -> None:
        """Queue an error reply (ERR) to the peer's request ``request_number``."""
        properties = {"Error-Domain": domain, "Error-Code": str(int(code))}
        data = encode_message(properties, message.encode("utf-8", "replace"))
        urgent = self._take_replyable(request_number)
        self._queue(KIND_RESPONSE, request_number, _ERR | urgent, data, False)

    def data_to_send(self) -> list[bytes]:
        """Every frame that may be written now, each one binary WebSocket message, in order."""
        return self._outbox.drain()

    @property
    def outgoing_backlog(self) -> int:
        """Outgoing messages not completely handed out by data_to_send() yet (queued or iced)."""
        return self._outbox.backlog

    def _take_replyable(self, request_number: int) -> int:
        urgent = self._replyable.pop(request_number, None)
        if urgent is None:
            raise LocalBlipError(
                f"no reply owed to request #{request_number} (unknown, NoReply, or already answered)"
            )
        return urgent

    def _queue(self, kind: int, number: int, flags: int, data: bytes, compress: bool) -> None:
        if compress and self._compress_ok:
            flags |= _COMPRESSED
            chunk = self._chunk_compressed
        else:
            chunk = self._chunk
        self._outbox.push(OutMessage(kind, number, flags, data, chunk))

    # --------------------------------------------------------------- receiving

    def receive_frame(self, frame: bytes) -> list[BlipEvent]:
        """Take one binary WebSocket message; return the messages it completes (usually 0 or 1).

        Raises RemoteBlipError for anything the peer must not send; after that the connection's
        CRC and inflate state are unusable, so every later call raises too.
        """
        if self._broken is not None:
            raise RemoteBlipError(f"BLIP connection already failed: {self._broken}")
        try:
            return self._receive(frame)
        except RemoteBlipError as exc:
            self._broken = exc
            raise

    def _receive(self, frame: bytes) -> list[BlipEvent]:
        size = len(frame)
        if not size:
            raise RemoteBlipError("empty BLIP frame")
        number = frame[0]
        if number < 0x80:
            pos = 1
        else:
            number, pos = decode_uvarint(frame, 0)
        if pos >= size:
            raise RemoteBlipError(f"truncated BLIP frame ({size} bytes)")
        # Flags are a uvarint too, but every defined bit fits in one byte.
        flags = frame[pos]
        if flags >= 0x80:
            raise RemoteBlipError(f"unknown BLIP frame flags 0x{flags:x}")
        pos += 1
        mtype = flags & 0x07
        if mtype >= _ACK_MSG:
            if mtype > _ACK_RPY:
                raise RemoteBlipError(f"unknown BLIP frame type {mtype}")
            byte_count, _ = decode_uvarint(frame, pos)
            kind = KIND_REQUEST if mtype == _ACK_MSG else KIND_RESPONSE
            self._outbox.on_ack(kind, number, byte_count)
            return []
        if mtype > _ERR:
            raise RemoteBlipError(f"unknown BLIP frame type {mtype}")

        payload_end = size - 4
        if payload_end < pos:
            raise RemoteBlipError(f"truncated BLIP frame ({size} bytes)")
        # Every non-ACK frame goes through the inflater and the CRC, even if its message is
        # ignored, because both run over the whole direction.
        # Small frames: copying the slice is cheaper than a memoryview; large ones: no copy.
        data: bytes | memoryview = (
            frame[pos:payload_end] if size <= _COPY_LIMIT else memoryview(frame)[pos:payload_end]
        )
        if flags & _COMPRESSED:
            data = self._inflater.inflate(data)
        crc = zlib.crc32(data, self._in_crc)
        if crc != int.from_bytes(frame[payload_end:], "big"):
            raise RemoteBlipError(f"BLIP CRC mismatch in frame #{number} (flags 0x{flags:x})")
        self._in_crc = crc

        more = flags & _MORE
        if mtype == _MSG:
            pending = self._in_requests.get(number)
            if pending is None:
                if number != self._last_in_request + 1:
                    raise RemoteBlipError(
                        f"bad incoming request number {number}, expected {self._last_in_request + 1}"
                    )
                self._last_in_request = number
                if not more:
                    return [self._request(number, flags, data)]
                pending = self._in_requests[number] = _InMessage(flags)
            elif not more:
                del self._in_requests[number]
                pending.chunks.append(data)
                return [self._request(number, pending.flags, b"".join(pending.chunks))]
            kind = KIND_REQUEST
        else:
            if number not in self._awaiting:
                if number > self._last_out_request:
                    raise RemoteBlipError(f"reply to request #{number}, which we never sent")
                return []  # late or duplicate reply, or reply to NoReply: go-blip ignores it
            reply = self._awaiting[number]
            if reply is None:
                if not more:
                    del self._awaiting[number]
                    return [self._response(number, flags, data)]
                reply = self._awaiting[number] = _InMessage(flags)
            elif not more:
                del self._awaiting[number]
                reply.chunks.append(data)
                return [self._response(number, reply.flags, b"".join(reply.chunks))]
            pending = reply
            kind = KIND_RESPONSE

        # Not the last frame: keep the data and ACK each crossing of a 50,000-byte multiple.
        pending.chunks.append(data)
        before = pending.received
        after = pending.received = before + size - pos
        if after // ACK_INTERVAL != before // ACK_INTERVAL:
            self._outbox.push_ack(encode_ack(kind, number, after))
        return []

    def _request(self, number: int, flags: int, data: bytes | memoryview) -> Request:
        properties, body = decode_message(data)
        no_reply = bool(flags & _NO_REPLY)
        urgent = flags & _URGENT
        if not no_reply:
            self._replyable[number] = urgent
        return Request(number, properties, body, no_reply=no_reply, urgent=bool(urgent))

    def _response(self, number: int, flags: int, data: bytes | memoryview) -> Response | ErrorResponse:
        properties, body = decode_message(data)
        if flags & 0x07 == _RPY:
            return Response(number, properties, body)
        try:
            code = int(properties.get("Error-Code", "0"))
        except ValueError:
            code = 0  # a malformed code still means failure; the raw value stays in properties
        domain = properties.get("Error-Domain", "BLIP")
        return ErrorResponse(number, domain, code, body.decode("utf-8", "replace"), properties)
