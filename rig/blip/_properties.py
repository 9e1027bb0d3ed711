"""Encoding and decoding of a whole BLIP message: uvarint(len(P)) ‖ P ‖ body."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain

from rig._errors import LocalBlipError, RemoteBlipError
from rig.blip._varint import decode_uvarint, encode_uvarint

_NUL = b"\x00"
_EMPTY_PROPERTIES = b"\x00"

Buffer = bytes | bytearray | memoryview


def encode_message(properties: Mapping[str, str], body: bytes | bytearray | memoryview) -> bytes:
    """Return the message bytes: properties block (in mapping order) followed by the body."""
    if not properties:
        return b"".join((_EMPTY_PROPERTIES, body)) if body else _EMPTY_PROPERTIES
    try:
        text = "\x00".join(chain.from_iterable(properties.items()))
        raw = text.encode("utf-8")
    except (TypeError, UnicodeEncodeError) as exc:
        raise LocalBlipError(f"BLIP properties must be UTF-8 encodable str: {exc}") from exc
    # Every string is NUL-terminated on the wire, so a NUL inside one would shift all the
    # key/value pairs after it.
    if text.count("\x00") != 2 * len(properties) - 1:
        raise LocalBlipError("BLIP property keys and values must not contain NUL")
    return b"".join((encode_uvarint(len(raw) + 1), raw, _NUL, body))


def decode_message(data: Buffer) -> tuple[dict[str, str], bytes]:
    """Split a complete incoming message into ``(properties, body)``.

    Rejects what go-blip rejects (missing final NUL, odd string count, duplicate keys) plus a
    properties length running past the message and non-UTF-8 text.
    """
    size = len(data)
    if size == 0:
        raise RemoteBlipError("empty BLIP message (no properties length)")
    first = data[0]
    if first < 0x80:
        length, pos = first, 1
    else:
        length, pos = decode_uvarint(data, 0)
    end = pos + length
    if end > size:
        raise RemoteBlipError(f"BLIP properties length {length} runs past the message ({size} bytes)")
    if length == 0:
        properties: dict[str, str] = {}
    else:
        if data[end - 1] != 0:
            raise RemoteBlipError("BLIP properties are not NUL-terminated")
        try:
            text = str(data[pos : end - 1], "utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteBlipError(f"BLIP properties are not UTF-8: {exc}") from exc
        parts = text.split("\x00")
        if len(parts) & 1:
            raise RemoteBlipError("odd number of strings in BLIP properties")
        pairs = iter(parts)
        properties = dict(zip(pairs, pairs))  # noqa: B905 (pairs of one iterator; count checked above)
        if 2 * len(properties) != len(parts):
            raise RemoteBlipError("duplicate key in BLIP properties")
    return properties, bytes(data[end:])
