"""What a run saw, in the order it happened: the oracle's only input. JSON Lines on disk.

One JSON object per line, ``"kind"`` first:

- ``principal``: ``{"kind":"principal","op":"user"|"delete_user"|"role"|"delete_role","name":...,
  "channels":[...],"roles":[...],"disabled":false}``; ``op=user`` and ``op=role`` replace the
  principal's static channels (and roles, disabled) as ``PUT /_user`` and ``PUT /_role`` do.
- ``write``: ``{"kind":"write","doc":...,"writer":"ann"|null,"device":"ann-1"|null,"body":{...}|null,
  "deleted":false,"accepted":true,"rev":"1-ab"|null,"status":403|null,"detail":"..."}``. ``writer`` null
  is an admin write (no user context); ``body`` is the document without ``_`` keys.
- ``sync``: ``{"kind":"sync","device":...,"user":...,"outcome":"caught_up"|"auth_rejected"|"error",
  "docs":{"id":{"rev":...,"deleted":false,"pending":false}}, "view": null|{...}}``: the device's whole
  store right after a replication that claimed to be caught up (or was refused). ``view`` (optional)
  is the gateway's own opinion at that moment: ``{"docs":{"id":{"rev":...,"deleted":...,
  "channels":[...]}},"channels":[user's all_channels]}``; it drives the spec-less check.
  ``"scope":"leaks"`` (optional; default ``"all"``) marks a snapshot taken while other devices kept
  writing (a load run): only leaks are sound there, so misses, stale and revocations are not checked.

- ``versions``: ``{"kind":"versions","docs":{"id":{"rev":"2-ab","cv":"18ef...@src"}}}``: the gateway's
  pairing of each document's current revision-tree ID with its current version (a load run records it
  once, after the final sync). Version-vector devices (Couchbase Lite 4.1) name revisions by version,
  rev-tree devices and REST writes by rev-tree ID; both name the same revision here. The pairs are
  facts about identity, true whenever they are used, so a replay takes them before everything else.

Every record may carry ``"t"`` (seconds, informative only). Order in the file is the order of events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig._errors import ConfigError

PRINCIPAL_OPS = ("user", "delete_user", "role", "delete_role")
OUTCOMES = ("caught_up", "auth_rejected", "error")
SCOPES = ("all", "leaks")


@dataclass(frozen=True, slots=True)
class PrincipalChange:
    op: str
    name: str
    channels: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    disabled: bool = False
    t: float = 0.0


@dataclass(frozen=True, slots=True)
class WriteAttempt:
    doc: str
    writer: str | None
    accepted: bool
    body: dict[str, Any] | None = None
    deleted: bool = False
    rev: str | None = None
    device: str | None = None
    status: int | None = None
    detail: str = ""
    t: float = 0.0


def refusal_status(detail: str) -> int | None:
    """The HTTP status in a replicator event's detail ("403: ...", "HTTP 500: ..."), or None."""
    head = detail.split(":", 1)[0].split()
    return int(head[-1]) if head and head[-1].isdigit() else None


def is_server_refusal(status: int | None) -> bool:
    """A 5xx answer to a pushed revision: the gateway did not store it (a sync function that threw,
    timed out or granted to invalid names answers 500). It is an outcome the oracle judges."""
    return status is not None and 500 <= status < 600


@dataclass(frozen=True, slots=True)
class Held:
    """One document as a device holds it."""

    rev: str
    deleted: bool = False
    pending: bool = False


@dataclass(frozen=True, slots=True)
class DocView:
    rev: str
    deleted: bool
    channels: frozenset[str]


@dataclass(frozen=True, slots=True)
class GatewayView:
    docs: dict[str, DocView]
    channels: frozenset[str]


@dataclass(frozen=True, slots=True)
class SyncSnapshot:
    device: str
    user: str
    outcome: str
    docs: dict[str, Held] = field(default_factory=dict)
    view: GatewayView | None = None
    t: float = 0.0
    scope: str = "all"
    """"all", or "leaks": taken mid-run, only what the device holds is checked (for leaks)."""


@dataclass(frozen=True, slots=True)
class RevisionNames:
    """Document -> (rev-tree ID, current version) of the same revision, as the gateway paired them."""

    docs: dict[str, tuple[str, str]]
    t: float = 0.0


Observation = PrincipalChange | WriteAttempt | SyncSnapshot | RevisionNames


def to_json(obs: Observation) -> dict[str, Any]:
    if isinstance(obs, PrincipalChange):
        return {"kind": "principal", "op": obs.op, "name": obs.name, "channels": list(obs.channels),
                "roles": list(obs.roles), "disabled": obs.disabled, "t": obs.t}
    if isinstance(obs, WriteAttempt):
        return {"kind": "write", "doc": obs.doc, "writer": obs.writer, "device": obs.device, "body": obs.body,
                "deleted": obs.deleted, "accepted": obs.accepted, "rev": obs.rev, "status": obs.status,
                "detail": obs.detail, "t": obs.t}
    if isinstance(obs, RevisionNames):
        return {"kind": "versions", "docs": {k: {"rev": rev, "cv": cv} for k, (rev, cv) in obs.docs.items()},
                "t": obs.t}
    view = None if obs.view is None else {
        "docs": {k: {"rev": v.rev, "deleted": v.deleted, "channels": sorted(v.channels)}
                 for k, v in obs.view.docs.items()},
        "channels": sorted(obs.view.channels)}
    record = {"kind": "sync", "device": obs.device, "user": obs.user, "outcome": obs.outcome,
              "docs": {k: {"rev": v.rev, "deleted": v.deleted, "pending": v.pending} for k, v in obs.docs.items()},
              "view": view, "t": obs.t}
    if obs.scope != "all":
        record["scope"] = obs.scope
    return record


def from_json(data: Any, where: str = "observation") -> Observation:
    """Parse one record; ConfigError names `where` (file:line) and the bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    kind = data.get("kind")
    try:
        if kind == "principal":
            if data["op"] not in PRINCIPAL_OPS:
                raise ConfigError(f"{where}: op: one of {', '.join(PRINCIPAL_OPS)}")
            return PrincipalChange(str(data["op"]), str(data["name"]), tuple(data.get("channels") or ()),
                                   tuple(data.get("roles") or ()), bool(data.get("disabled", False)),
                                   float(data.get("t", 0.0)))
        if kind == "write":
            body = data.get("body")
            if body is not None and not isinstance(body, dict):
                raise ConfigError(f"{where}: body: expected an object or null")
            return WriteAttempt(str(data["doc"]), data.get("writer"), bool(data["accepted"]), body,
                                bool(data.get("deleted", False)), data.get("rev"), data.get("device"),
                                data.get("status"), str(data.get("detail", "")), float(data.get("t", 0.0)))
        if kind == "sync":
            if data["outcome"] not in OUTCOMES:
                raise ConfigError(f"{where}: outcome: one of {', '.join(OUTCOMES)}")
            scope = data.get("scope", "all")
            if scope not in SCOPES:
                raise ConfigError(f"{where}: scope: one of {', '.join(SCOPES)}")
            docs = {str(k): Held(str(v["rev"]), bool(v.get("deleted", False)), bool(v.get("pending", False)))
                    for k, v in (data.get("docs") or {}).items()}
            raw_view = data.get("view")
            view = None
            if raw_view is not None:
                view = GatewayView({str(k): DocView(str(v["rev"]), bool(v.get("deleted", False)),
                                                    frozenset(v.get("channels") or ()))
                                    for k, v in raw_view["docs"].items()},
                                   frozenset(raw_view.get("channels") or ()))
            return SyncSnapshot(str(data["device"]), str(data["user"]), str(data["outcome"]), docs, view,
                                float(data.get("t", 0.0)), str(scope))
        if kind == "versions":
            return RevisionNames({str(k): (str(v["rev"]), str(v["cv"])) for k, v in data["docs"].items()},
                                 float(data.get("t", 0.0)))
    except KeyError as exc:
        raise ConfigError(f"{where}: {exc.args[0]}: missing") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{where}: {kind}: malformed record ({exc})") from None
    raise ConfigError(f"{where}: kind: expected principal, write, sync or versions, got {kind!r}")


def write_jsonl(path: Path, observations: Iterable[Observation]) -> None:
    with path.open("w") as handle:
        for obs in observations:
            handle.write(json.dumps(to_json(obs), separators=(",", ":")) + "\n")


def read_jsonl(path: Path) -> Iterator[Observation]:
    try:
        handle = path.open()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
            yield from_json(data, f"{path}:{number}")
