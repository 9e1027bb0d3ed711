"""HTTP clients for Sync Gateway's admin API and, as a user, its public REST API."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from prometheus_client.parser import text_string_to_metric_families

from rig._errors import AdminApiError, SyncFunctionRefused
from rig.gateway.config import database_config, storage_url

_SYNC_CHECKED: set[tuple[str, str]] = set()
"""(admin URL, sha256 of a sync function) this process saw the gateway compile: each is checked once."""


def config_json(config: Mapping[str, Any]) -> bytes:
    """A database config as the body of an admin PUT, every back-quote and dollar sign as a JSON
    escape (\\u0060, \\u0024). Sync Gateway expands ``$VAR``/``${VAR}`` and turns back-quoted strings
    into JSON strings in the raw body before parsing it, which corrupts (or refuses) a sync function
    holding either; escaped, the parsed string is the function byte for byte."""
    return json.dumps(config).replace("`", "\\u0060").replace("$", "\\u0024").encode()


def _refusal(body: str) -> str:
    """The reason in a Sync Gateway error body (its JSON "reason", else the text)."""
    try:
        reason = json.loads(body).get("reason")
    except (ValueError, AttributeError):
        reason = None
    return " ".join(str(reason or body).split())[:500]


@dataclass(frozen=True, slots=True)
class MetricSample:
    """One Prometheus sample read from Sync Gateway's metrics endpoint."""

    name: str
    labels: dict[str, str]
    value: float


_DNS_FAILURES = ("Name or service not known", "Temporary failure in name resolution")


def _resolving(send: Callable[[], httpx.Response], attempts: int = 4) -> httpx.Response:
    """`send()`, again when the gateway's name did not resolve (nothing was sent): a compose network's
    DNS (podman's aardvark-dns) briefly answers nothing while other networks come and go."""
    for attempt in range(attempts):
        try:
            return send()
        except httpx.ConnectError as exc:
            if attempt == attempts - 1 or not any(text in str(exc) for text in _DNS_FAILURES):
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


class _Http:
    def __init__(self, base_url: str, *, auth: httpx.Auth | tuple[str, str] | None = None,
                 timeout: float = 30.0) -> None:
        self._client = httpx.Client(base_url=base_url.rstrip("/"), auth=auth, timeout=timeout)

    @property
    def url(self) -> str:
        """The base URL requests go to."""
        return str(self._client.base_url).rstrip("/")

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, *, ok: Iterable[int] = (200, 201),
                 **kwargs: Any) -> httpx.Response:
        try:
            response = _resolving(lambda: self._client.request(method, path, **kwargs))
        except httpx.HTTPError as exc:
            raise AdminApiError(method, f"{self._client.base_url}{path}", 0, f"{type(exc).__name__}: {exc}") \
                from exc
        if response.status_code not in ok:
            raise AdminApiError(method, str(response.url), response.status_code, response.text)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()


def _doc_path(db: str, doc_id: str) -> str:
    return f"/{db}/{quote(doc_id, safe='')}"


class AdminClient(_Http):
    """Sync Gateway's admin REST API (port 4985 by default)."""

    def __init__(self, admin_url: str, metrics_url: str | None = None, *, timeout: float = 30.0) -> None:
        super().__init__(admin_url, timeout=timeout)
        self.metrics_url = (metrics_url or admin_url).rstrip("/")

    # Databases ------------------------------------------------------------------------------
    def create_database(self, name: str, config: Mapping[str, Any] | None = None, *,
                        sync_function: str | None = None) -> None:
        """Create a database on rosmar in memory (legacy mode requires `server` in the body)."""
        body: dict[str, Any] = {"bucket": name, "server": storage_url(None), "use_views": True,
                                "enable_shared_bucket_access": True, "num_index_replicas": 0}
        if sync_function is not None:
            body["sync"] = sync_function
            self.check_sync_function(sync_function, "the sync function given")
        body.update(config or {})
        self._put_config(f"/{name}/", body)

    def create_database_from_spec(self, spec: Any, *, server: str | None = None) -> None:
        """Create a database from a :class:`rig.gateway.DatabaseSpec` with the repo's template.

        `server=""` (or a spec with named collections) is for a persistent-config gateway: no `server` key.

        The sync function goes inline, intact whatever it holds (see :func:`config_json`), after
        the gateway has compiled it once (SyncFunctionRefused names the file when it cannot)."""
        config = database_config(spec, server=server or storage_url(None))
        if server == "" or spec.collections:
            # A persistent-config gateway (the only kind that takes named collections) keeps its
            # databases on its bootstrap store and refuses a `server` of their own.
            config.pop("server")
        users = config.pop("users", {})
        roles = config.pop("roles", {})
        origin = str(spec.sync_function) if spec.sync_function is not None else "the default sync function"
        if "sync" in config:
            self.check_sync_function(str(config["sync"]), origin)
        for coll in spec.collections:  # named collections: each its own function, if any
            if coll.sync_function is not None:
                origin = str(coll.sync_function)
                self.check_sync_function(coll.sync_function.read_text(), origin)
        try:
            self._put_config(f"/{spec.name}/", config)
        except AdminApiError as exc:  # a persistent-config gateway compiles it here
            if exc.status == 400 and "sync function" in exc.body:
                raise SyncFunctionRefused(origin, _refusal(exc.body)) from None
            raise
        for role, fields in roles.items():  # as given: `admin_channels`, or `collection_access` for named collections
            self._request("PUT", f"/{spec.name}/_role/{quote(role, safe='')}", json={"name": role, **fields})
        for user, fields in users.items():
            self._request("PUT", f"/{spec.name}/_user/{quote(user, safe='')}", json={"name": user, **fields})

    def _put_config(self, path: str, config: Mapping[str, Any]) -> None:
        self._request("PUT", path, content=config_json(config), headers={"Content-Type": "application/json"},
                      ok=(201,))

    def check_sync_function(self, source: str, origin: str) -> None:
        """Have the gateway compile `source` (once per gateway and function in this process).

        Creating a database in legacy mode does not compile its sync function (every write then
        fails with a 500); a config update does, so the function goes to a scratch database's
        config. Raises SyncFunctionRefused naming `origin` (the file) with the gateway's reason."""
        key = (str(self._client.base_url), hashlib.sha256(source.encode()).hexdigest())
        if key in _SYNC_CHECKED:
            return
        scratch = f"rig_sync_check_{uuid.uuid4().hex[:10]}"
        base = {"bucket": scratch, "server": storage_url(None), "use_views": True, "num_index_replicas": 0}
        try:
            self._put_config(f"/{scratch}/", base)
        except AdminApiError:
            return  # no in-memory scratch database here (a gateway on a cluster): its own create compiles it
        try:
            self._put_config(f"/{scratch}/_config", {**base, "sync": source})
        except AdminApiError as exc:
            if exc.status == 400 and "sync function" in exc.body:
                raise SyncFunctionRefused(origin, _refusal(exc.body)) from None
            return  # the check itself could not run; the database's own create will say what is wrong
        finally:
            with contextlib.suppress(AdminApiError):  # a scratch database in memory: harmless if it stays
                self.delete_database(scratch)
        _SYNC_CHECKED.add(key)

    def delete_database(self, name: str) -> None:
        self._request("DELETE", f"/{name}/")

    def database(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/{name}/")
        return result

    def all_databases(self) -> list[str]:
        result: list[str] = self._json("GET", "/_all_dbs")
        return result

    # Users, roles, sessions ------------------------------------------------------------------
    def put_user(self, db: str, name: str, *, password: str | None = None,
                 admin_channels: Iterable[str] | None = None, admin_roles: Iterable[str] | None = None,
                 disabled: bool | None = None, email: str | None = None,
                 collection_access: Mapping[str, Any] | None = None) -> None:
        """`collection_access`: `{scope: {collection: {"admin_channels": [...]}}}` for named collections."""
        body: dict[str, Any] = {"name": name}
        if collection_access is not None:
            body["collection_access"] = dict(collection_access)
        if password is not None:
            body["password"] = password
        if admin_channels is not None:
            body["admin_channels"] = list(admin_channels)
        if admin_roles is not None:
            body["admin_roles"] = list(admin_roles)
        if disabled is not None:
            body["disabled"] = disabled
        if email is not None:
            body["email"] = email
        self._request("PUT", f"/{db}/_user/{quote(name, safe='')}", json=body)

    def user(self, db: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/{db}/_user/{quote(name, safe='')}")
        return result

    def delete_user(self, db: str, name: str) -> None:
        self._request("DELETE", f"/{db}/_user/{quote(name, safe='')}")

    def put_role(self, db: str, name: str, *, admin_channels: Iterable[str] = (),
                 collection_access: Mapping[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"name": name, "admin_channels": list(admin_channels)}
        if collection_access is not None:
            body["collection_access"] = dict(collection_access)
        self._request("PUT", f"/{db}/_role/{quote(name, safe='')}", json=body)

    def role(self, db: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/{db}/_role/{quote(name, safe='')}")
        return result

    def delete_role(self, db: str, name: str) -> None:
        self._request("DELETE", f"/{db}/_role/{quote(name, safe='')}")

    def create_session(self, db: str, name: str, *, ttl: int = 86400) -> tuple[str, str]:
        """A session for `name`: (cookie name, session id), so devices skip bcrypt on connect."""
        data = self._json("POST", f"/{db}/_session", json={"name": name, "ttl": ttl})
        return str(data["cookie_name"]), str(data["session_id"])

    def delete_sessions(self, db: str, name: str) -> None:
        self._request("DELETE", f"/{db}/_user/{quote(name, safe='')}/_session", ok=(200, 204))

    # Documents -------------------------------------------------------------------------------
    def put_document(self, db: str, doc_id: str, body: Mapping[str, Any]) -> str:
        """Write as admin (the sync function runs without a user context); returns the new rev."""
        return str(self._json("PUT", _doc_path(db, doc_id), json=dict(body))["rev"])

    def get_document(self, db: str, doc_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", _doc_path(db, doc_id))
        return result

    def current_version(self, db: str, doc_id: str) -> str | None:
        """The document's current version (`_cv`, `<hex>@<source>` as a 4.1 device names it), None
        when it has none or is gone."""
        try:
            doc = self._json("GET", _doc_path(db, doc_id), params={"show_cv": "true"})
        except AdminApiError as exc:
            if exc.status == 404:
                return None
            raise
        cv = doc.get("_cv")
        return str(cv) if cv else None

    def revision_names(self, db: str) -> dict[str, tuple[str, str | None]]:
        """Every document's current revision (tombstones too) under both its names: doc ID -> (rev-tree
        ID, current version `<hex>@<source>` or None), from two admin changes feeds (`version_type`
        `rev` and `cv`). `db` may be a keyspace (`db.scope.collection`)."""
        names: dict[str, dict[str, str]] = {}
        for version_type in ("rev", "cv"):
            results = self._json("GET", f"/{db}/_changes", params={"since": "0", "version_type": version_type})
            for row in results.get("results") or ():
                changes = row.get("changes") or [{}]
                if row.get("id") and changes[0].get(version_type):
                    names.setdefault(str(row["id"]), {})[version_type] = str(changes[0][version_type])
        return {doc: (pair["rev"], pair.get("cv")) for doc, pair in names.items() if "rev" in pair}

    def bulk_docs(self, db: str, docs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("POST", f"/{db}/_bulk_docs", json={"docs": list(docs)})
        return result

    def wait_for_changes_feed(self, db: str) -> None:
        """Return once every write made so far is in the gateway's change cache.

        Writes reach the changes feed asynchronously; a one-shot replication that
        starts right after a write may end before the write appears (as it would
        for Couchbase Lite). `request_plus` waits for the cache to catch up.
        """
        # `db` may be a keyspace (`db.scope.collection`): sequences are the database's, the feed the collection's.
        since = self.database(db.split(".", 1)[0]).get("update_seq", 0)
        self._request("GET", f"/{db}/_changes", params={"request_plus": "true", "since": str(since),
                                                        "limit": "1"})

    def raw(self, db: str, doc_id: str) -> dict[str, Any]:
        """`_raw/{doc}`: the document with its sync metadata (`_sync` or `_xattrs._sync`)."""
        result: dict[str, Any] = self._json("GET", f"/{db}/_raw/{quote(doc_id, safe='')}")
        return result

    def doc_channels(self, db: str, doc_id: str) -> set[str]:
        """The channels a document is in now, from its sync metadata."""
        raw = self.raw(db, doc_id)
        sync = raw.get("_sync") or raw.get("_xattrs", {}).get("_sync") or {}
        return {name for name, removal in (sync.get("channels") or {}).items() if removal is None}

    def all_docs(self, db: str, *, channels: bool = True) -> list[dict[str, Any]]:
        params = {"channels": "true"} if channels else {}
        rows: list[dict[str, Any]] = self._json("GET", f"/{db}/_all_docs", params=params)["rows"]
        return rows

    # Metrics ---------------------------------------------------------------------------------
    def metrics(self, names: Sequence[str] = ()) -> list[MetricSample]:
        """Every sample of `/metrics` on the metrics interface, parsed; with `names`, only the metrics
        whose names start with one of them (the rest are not parsed: a load process samples a few
        counters every second, and parsing all of the gateway's hundreds cost it 10-15 ms each time)."""
        url = f"{self.metrics_url}/metrics"
        try:
            # The client kept open: a new one per call builds an SSL context (~80 ms of CPU), which
            # stalled a load process's event loop every second it sampled the gateway.
            response = _resolving(lambda: self._client.get(url))
        except httpx.HTTPError as exc:
            raise AdminApiError("GET", url, 0, str(exc)) from exc
        if response.status_code != 200:
            raise AdminApiError("GET", url, response.status_code, response.text)
        text = _only_metrics(response.text, tuple(names)) if names else response.text
        return [MetricSample(s.name, dict(s.labels), float(s.value))
                for family in text_string_to_metric_families(text) for s in family.samples]

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples called `name` whose labels include `labels`.

        Sync Gateway names counters without `_total`; the Prometheus parser adds
        it, so either spelling is accepted.
        """
        names = {name, f"{name}_total"}
        return sum(s.value for s in self.metrics((name,))
                   if s.name in names and all(s.labels.get(k) == v for k, v in labels.items()))


def _only_metrics(text: str, prefixes: tuple[str, ...]) -> str:
    """The lines of a Prometheus text exposition (HELP and TYPE comments too) for metrics whose names
    start with one of `prefixes`."""
    kept = []
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(None, 3)
            name = parts[2] if len(parts) > 2 else ""
        else:
            name = line.split("{", 1)[0].split(None, 1)[0] if line else ""
        if name.startswith(prefixes):
            kept.append(line)
    return "\n".join(kept) + "\n"


class PublicClient(_Http):
    """The public REST API (port 4984) as one user, with basic auth or a session cookie."""

    def __init__(self, public_url: str, db: str, *, username: str | None = None,
                 password: str | None = None, session: tuple[str, str] | None = None,
                 timeout: float = 30.0) -> None:
        auth = (username, password) if username is not None and password is not None else None
        super().__init__(public_url, auth=auth, timeout=timeout)
        if session is not None:
            self._client.cookies.set(session[0], session[1])
        self.db = db

    def put_document(self, doc_id: str, body: Mapping[str, Any]) -> str:
        return str(self._json("PUT", _doc_path(self.db, doc_id), json=dict(body))["rev"])

    def get_document(self, doc_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", _doc_path(self.db, doc_id))
        return result

    def delete_document(self, doc_id: str, rev: str) -> str:
        return str(self._json("DELETE", _doc_path(self.db, doc_id), params={"rev": rev})["rev"])

    def changes(self, *, since: str | int = 0, **params: str) -> dict[str, Any]:
        query = {"since": str(since), **params}
        result: dict[str, Any] = self._json("GET", f"/{self.db}/_changes", params=query)
        return result

    def session(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/{self.db}/_session")
        return result


def user_channels(user: Mapping[str, Any], collection: str) -> set[str]:
    """A user's channels (`all_channels`, from `GET /db/_user/NAME`) in `collection`: the top level for the
    default collection, `collection_access.SCOPE.NAME.all_channels` for a named one."""
    if collection in ("", "_default"):
        return set(user.get("all_channels") or [])
    scope, _, name = collection.partition(".")
    access = ((user.get("collection_access") or {}).get(scope) or {}).get(name) or {}
    return set(access.get("all_channels") or [])

