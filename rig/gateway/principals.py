"""Does each user's record on the gateway hold what the gateway's own documents grant it?

Sync Gateway keeps a user's channels in the user's record, recomputed from the documents' access
grants (`_sync.access`, written by the sync function's `access()`) whenever a grant changes. If a
recomputation and a change race, the record can keep a channel no document grants any more (seen:
docs/known-gateway-defects.md, "Lost channel invalidation"); devices then keep reading it. That is
a defect of the gateway, not of the sync function, whose grants are in the documents: this module
tells the two apart by comparing each user's record with the grants its documents hold now.

`drift` is pure (records in, differences out); `check_principals` reads them over the admin API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from rig._collections import DEFAULT_COLLECTION, keyspace
from rig._errors import AdminApiError
from rig.gateway.admin import AdminClient

PUBLIC = "!"


@dataclass(frozen=True, slots=True)
class PrincipalDrift:
    """A user whose record disagrees with the grants of the gateway's documents, in one collection."""

    user: str
    collection: str
    """`_default` or `scope.name`."""
    extra: tuple[str, ...]
    """Channels the record holds that no document, admin grant or role gives the user."""
    missing: tuple[str, ...]
    """Channels a document grants the user that the record lacks."""
    granted_by: dict[str, tuple[str, ...]]
    """Channel -> documents granting it (for `missing`; `extra` has none by definition)."""

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user, "collection": self.collection, "extra": list(self.extra),
                "missing": list(self.missing), "granted_by": {c: list(d) for c, d in self.granted_by.items()}}

    def text(self) -> str:
        where = "" if self.collection == DEFAULT_COLLECTION else f" in {self.collection}"
        parts = []
        if self.extra:
            parts.append(f"holds {', '.join(self.extra)}{where}, which no document grants")
        if self.missing:
            granted = "; ".join(f"{c} by {', '.join(self.granted_by[c])}" for c in self.missing)
            parts.append(f"lacks what documents grant{where} ({granted})")
        return f"{self.user} " + " and ".join(parts)


def _access(record: Mapping[str, Any], collection: str) -> Mapping[str, Any]:
    """The part of a user or role record (GET `_user`/`_role`) about one collection."""
    if collection == DEFAULT_COLLECTION:
        return record
    scope, _, name = collection.partition(".")
    found: Mapping[str, Any] = record.get("collection_access", {}).get(scope, {}).get(name, {})
    return found


def drift(user: Mapping[str, Any], roles: Mapping[str, Mapping[str, Any]],
          grants: Mapping[str, Iterable[str]], collection: str = DEFAULT_COLLECTION) -> PrincipalDrift | None:
    """`user`: its record; `roles`: the records of its roles; `grants`: channel -> documents whose
    `_sync.access` grants it to this user now. None when the record holds exactly what they give."""
    mine = _access(user, collection)
    held = set(mine.get("all_channels") or ())
    expected = {PUBLIC, *(mine.get("admin_channels") or ()), *grants}
    for name in user.get("roles") or ():
        role = roles.get(name)
        if role is not None:
            expected |= set(_access(role, collection).get("all_channels") or ())
    extra = tuple(sorted(held - expected))
    missing = tuple(sorted(set(grants) - held))
    if not extra and not missing:
        return None
    return PrincipalDrift(str(user.get("name", "?")), collection, extra, missing,
                          {c: tuple(sorted(grants[c])) for c in missing})


def document_grants(raw_docs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """user -> channel -> documents granting it, from the documents' raw form (GET `_raw`): their
    `_sync.access` (role grants, `role:` keys, are in the roles' own records)."""
    grants: dict[str, dict[str, set[str]]] = {}
    for doc_id, raw in raw_docs.items():
        sync = raw.get("_sync") or (raw.get("_xattrs") or {}).get("_sync") or {}
        for principal, channels in (sync.get("access") or {}).items():
            if principal.startswith("role:"):
                continue
            for channel in channels or {}:
                grants.setdefault(principal, {}).setdefault(channel, set()).add(doc_id)
    return grants


def check_principals(admin: AdminClient, db: str, grant_docs: Mapping[str, Iterable[str]],
                     users: Iterable[str]) -> list[PrincipalDrift]:
    """Every user of `users` checked in every collection of `grant_docs` (collection -> the IDs of
    its documents that may grant access). Reading a user makes the gateway recompute an invalidated
    record first, so only a record that is wrong *and* valid shows."""
    found: list[PrincipalDrift] = []
    records = _present(users, lambda name: admin.user(db, name))
    role_names = {r for record in records.values() for r in record.get("roles") or ()}
    roles = _present(sorted(role_names), lambda name: admin.role(db, name))
    for collection, doc_ids in grant_docs.items():
        grants = document_grants(_present(doc_ids, partial(admin.raw, keyspace(db, collection))))
        for name, record in records.items():
            difference = drift(record, roles, {c: sorted(d) for c, d in grants.get(name, {}).items()}, collection)
            if difference is not None:
                found.append(difference)
    return found


def _present(keys: Iterable[str], read: Callable[[str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """key -> `read(key)`; what the gateway no longer has (404: a deleted user, a purged document) is
    left out, any other refusal raised."""
    results = {}
    for key in keys:
        try:
            results[key] = read(key)
        except AdminApiError as exc:
            if exc.status != 404:
                raise
    return results


KNOWN_DEFECT = "docs/known-gateway-defects.md#lost-channel-invalidation"


def summary_text(data: Mapping[str, Any]) -> str:
    """The run summary's lines about the check (`data`: what `rig run` puts in summary.json)."""
    if data.get("error"):
        return f"gateway principals: not checked ({data['error']})"
    drifted = data.get("drift_text") or []
    head = (f"gateway principals: {data['users']} users against the grants of {data['documents']} documents: "
            + ("every record agrees" if not drifted else f"{len(drifted)} records disagree"))
    if not drifted:
        return head
    lines = [head, f"    (the gateway kept a user record its documents no longer support: a gateway defect, "
                   f"not the sync function's; see {KNOWN_DEFECT})"]
    lines += [f"    {text}" for text in drifted[:5]]
    if len(drifted) > 5:
        lines.append(f"    ... {len(drifted) - 5} more in summary.json (gateway_principals)")
    return "\n".join(lines)
