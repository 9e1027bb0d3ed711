"""Per-direction raw-deflate streams with BLIP's dropped sync-flush trailer."""

from __future__ import annotations

import zlib

from rig._errors import LocalBlipError, RemoteBlipError

# Z_SYNC_FLUSH ends with an empty stored block, always these 4 bytes; BLIP leaves them off the
# wire and the receiver puts them back.
DEFLATE_TRAILER = b"\x00\x00\xff\xff"

Buffer = bytes | bytearray | memoryview


class Deflater:
    """The one outgoing compressor of a connection (the window spans frames and messages)."""

    __slots__ = ("_z",)

    def __init__(self, level: int) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, -15)

    def deflate(self, chunk: Buffer) -> tuple[bytes, memoryview]:
        """Compress one frame's slice; return two pieces to be joined (avoids a copy)."""
        head = self._z.compress(chunk)
        tail = self._z.flush(zlib.Z_SYNC_FLUSH)
        if not tail.endswith(DEFLATE_TRAILER):
            # Only possible for an empty chunk after an earlier flush, which we never send.
            raise LocalBlipError("deflate sync flush did not end with 00 00 ff ff")
        return head, memoryview(tail)[:-4]


class Inflater:
    """The one incoming decompressor of a connection."""

    __slots__ = ("_z",)

    def __init__(self) -> None:
        self._z = zlib.decompressobj(-15)

    def inflate(self, payload: Buffer) -> bytes:
        """Inflate one frame's payload (all deflate block types; several flushes are fine)."""
        if not payload:
            # go-blip never sends this, but an empty chunk carries no deflate data to trail.
            return b""
        try:
            out = self._z.decompress(b"".join((payload, DEFLATE_TRAILER)))
        except zlib.error as exc:
            raise RemoteBlipError(f"bad deflate data: {exc}") from exc
        if self._z.eof:
            # A final block would end the connection-wide stream; later frames could not inflate.
            raise RemoteBlipError("deflate stream ended (BFINAL block) inside a BLIP connection")
        return out
