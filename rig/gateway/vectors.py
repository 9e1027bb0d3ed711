"""A document's version vector as Sync Gateway stores it (the `_vv` xattr), in the devices' terms.

Sync Gateway keeps every version value as little-endian CAS hex (`0x` + 16 hex digits, least
significant byte first); Couchbase Lite 4.1 names the same version `<big-endian hex>@<source>`.
Previous and merge versions (`pv`, `mv`) are stored as deltas: sorted by value, the first entry
whole, each later one the difference from the one before, little-endian hex with the high zero
bytes stripped (Sync Gateway `VersionsToDeltas` / `PersistedDeltasToMap`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cas_hex(text: str) -> int:
    """A little-endian CAS hex string (`0x` optional, trailing zero bytes possibly stripped) as a number."""
    digits = text.strip().removeprefix("0x").removeprefix("0X")
    if not digits or len(digits) > 16:
        raise ValueError(f"not a little-endian CAS hex value: {text!r}")
    if len(digits) % 2:
        digits += "0"  # a stripped zero nibble of the last (most significant) byte
    return int.from_bytes(bytes.fromhex(digits.ljust(16, "0")), "little")


def stored_vector(vv: Mapping[str, Any]) -> dict[str, int]:
    """Source ID -> the newest version value of that source the document has seen (current, merge
    and previous versions together): a version `value@source` is in the document's history when
    `stored_vector(vv).get(source, -1) >= value`."""
    vector: dict[str, int] = {}
    for key in ("pv", "mv"):
        total = 0
        for entry in vv.get(key) or ():
            delta, _, source = str(entry).partition("@")
            total += cas_hex(delta)
            vector[source] = max(vector.get(source, 0), total)
    source = str(vv["src"])
    vector[source] = max(vector.get(source, 0), cas_hex(str(vv["ver"])))
    return vector


def current_version(vv: Mapping[str, Any]) -> str:
    """The document's current version as a 4.1 device names it: `<hex>@<source>`."""
    return f"{cas_hex(str(vv['ver'])):x}@{vv['src']}"


def raw_vector(raw: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `_vv` xattr of an admin `_raw` document, None when it has none."""
    vv = (raw.get("_xattrs") or {}).get("_vv") or raw.get("_vv")
    return vv if isinstance(vv, Mapping) and "src" in vv and "ver" in vv else None
