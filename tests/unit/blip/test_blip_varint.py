"""Unsigned LEB128 varints: known encodings, round trips, and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig._errors import LocalBlipError, RemoteBlipError
from rig.blip._varint import decode_uvarint, encode_uvarint


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "80 01"),
        (300, "ac 02"),
        (16383, "ff 7f"),
        (16384, "80 80 01"),
        (50123, "cb 87 03"),
        (128000, "80 e8 07"),
        (2**32 - 1, "ff ff ff ff 0f"),
        (2**64 - 1, "ff ff ff ff ff ff ff ff ff 01"),
    ],
)
def test_known_encodings(value: int, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert encode_uvarint(value) == raw
    assert decode_uvarint(raw) == (value, len(raw))


@given(st.integers(min_value=0, max_value=2**64 - 1), st.binary(max_size=3), st.binary(max_size=3))
def test_round_trip_inside_a_buffer(value: int, before: bytes, after: bytes) -> None:
    raw = encode_uvarint(value)
    assert decode_uvarint(memoryview(before + raw + after), len(before)) == (value, len(before) + len(raw))


@pytest.mark.parametrize("encoded", ["", "80", "ff ff", "80 e8", "ff ff ff ff"])
def test_truncated_varint_raises(encoded: str) -> None:
    with pytest.raises(RemoteBlipError, match="truncated"):
        decode_uvarint(bytes.fromhex(encoded))


def test_truncated_at_offset_raises() -> None:
    with pytest.raises(RemoteBlipError):
        decode_uvarint(b"\x05\xac", 1)


@pytest.mark.parametrize(
    "encoded",
    [
        "ff ff ff ff ff ff ff ff ff 02",  # 2**64: does not fit 64 bits
        "80 80 80 80 80 80 80 80 80 80 01",  # 11 bytes
    ],
)
def test_oversized_varint_raises(encoded: str) -> None:
    with pytest.raises(RemoteBlipError):
        decode_uvarint(bytes.fromhex(encoded))


@pytest.mark.parametrize("value", [-1, 2**64])
def test_encode_out_of_range_raises(value: int) -> None:
    with pytest.raises(LocalBlipError):
        encode_uvarint(value)
