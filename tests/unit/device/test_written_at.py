"""`written_at`: the arrival timing of `rig run` reads a pulled body's top-level number without parsing it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.device.measure import written_at

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(["written_at", "a", 'x"written_at', "b{"]), inner, max_size=4),
                     max_leaves=12)


def _reference(body: bytes) -> float | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    got = value.get("written_at") if isinstance(value, dict) else None
    return float(got) if isinstance(got, int | float) and not isinstance(got, bool) else None


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"owner":"u","text":"x","written_at":1765139000.25}', 1765139000.25),
    (b'{"written_at": 17, "a": 1}', 17.0),
    (b'{"written_at":1.5e9}', 1.5e9),
    (b'{"a":{"written_at":5}}', None),  # nested, no top-level key
    (b'{"a":{"written_at":5},"written_at":6}', 6.0),
    (b'{"a":"he said \\"written_at\\": 3"}', None),  # inside a string
    (b'{"x\\"written_at":4}', None),  # inside a key
    (b'{"written_at":"yesterday"}', None),
    (b'{"written_at":true}', None),
    (b'[{"written_at":1}]', None),
    (b'{"note":1}', None),
    (b'not json "written_at":1', None),
])
def test_reads_the_top_level_number_only(body: bytes, expected: float | None) -> None:
    assert written_at(body) == expected == _reference(body)


@given(st.dictionaries(st.sampled_from(["written_at", "a", 'x"written_at', "b{", "text"]), _JSON, max_size=5),
       st.booleans())
def test_agrees_with_parsing_the_json(doc: dict[str, object], compact: bool) -> None:
    body = json.dumps(doc, separators=(",", ":") if compact else None).encode()
    assert written_at(body) == _reference(body)
