"""Revision IDs, attachment digests and Couchbase Lite's default conflict resolver."""

from __future__ import annotations

import base64
import hashlib


def generation(rev: str) -> int:
    """The generation of a rev-tree ID `<gen>-<digest>`; 0 when malformed."""
    head, _, _ = rev.partition("-")
    return int(head) if head.isdigit() else 0


def new_rev_id(parent: str | None, body: bytes, *, deleted: bool = False) -> str:
    """A child revision ID as Couchbase Lite makes them: generation + SHA-1 of parent, flag, body."""
    digest = hashlib.sha1(usedforsecurity=False)
    parent_bytes = (parent or "").encode()
    digest.update(bytes([len(parent_bytes) & 0xFF]))
    digest.update(parent_bytes)
    digest.update(b"\x01" if deleted else b"\x00")
    digest.update(body)
    return f"{generation(parent or '0-') + 1}-{digest.hexdigest()}"


def attachment_digest(data: bytes) -> str:
    """`sha1-<base64>`: the digest Sync Gateway and Couchbase Lite give an attachment."""
    return "sha1-" + base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()


def attachment_proof(nonce: bytes, data: bytes) -> str:
    """Answer to `proveAttachment`: SHA-1 over (nonce length byte, nonce, attachment bytes)."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(bytes([len(nonce) & 0xFF]))
    digest.update(nonce)
    digest.update(data)
    return "sha1-" + base64.b64encode(digest.digest()).decode()


def local_wins(local_rev: str, local_deleted: bool, remote_rev: str, remote_deleted: bool) -> bool:
    """Couchbase Lite's default resolver: a deletion wins, then the higher generation,
    then (deterministically) the higher revision ID."""
    if local_deleted != remote_deleted:
        return local_deleted
    local_gen, remote_gen = generation(local_rev), generation(remote_rev)
    if local_gen != remote_gen:
        return local_gen > remote_gen
    return local_rev > remote_rev
