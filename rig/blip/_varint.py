"""Unsigned LEB128 varints, as Go's binary.PutUvarint / binary.Uvarint write and read them."""

from __future__ import annotations

from rig._errors import LocalBlipError, RemoteBlipError

_MAX_UVARINT = (1 << 64) - 1

# Message numbers and flags are almost always below 128; precomputing those saves an
# allocation per frame on the hot path.
_SMALL: tuple[bytes, ...] = tuple(bytes((i,)) for i in range(128))


def encode_uvarint(value: int) -> bytes:
    """Encode ``value`` (0 <= value < 2**64) as an unsigned LEB128 varint."""
    if 0 <= value < 0x80:
        return _SMALL[value]
    if 0x80 <= value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    if value < 0 or value > _MAX_UVARINT:
        raise LocalBlipError(f"varint out of range: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_uvarint(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """Decode the varint starting at ``buf[pos]``; return ``(value, position after it)``.

    Raises RemoteBlipError when the buffer ends inside the varint or when it does not fit
    64 bits (Go's binary.Uvarint rejects those too), since varints only come from the peer.
    """
    end = len(buf)
    result = 0
    shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result > _MAX_UVARINT:
                raise RemoteBlipError("varint overflows 64 bits")
            return result, pos
        shift += 7
        if shift >= 70:
            raise RemoteBlipError("varint longer than 10 bytes")
    raise RemoteBlipError("truncated varint")
