"""Documents of named collections in a load run: one name per document, `scope.name/docID`.

A run over named collections keeps every document it tracks (acknowledged writes, observations,
the final check) under the name the oracle's world gives it (rig.oracle.expect): the collection,
a slash, the document ID; a default-collection document keeps its plain ID. Document IDs of the
rig's workloads never hold a slash, collection names (`scope.name`) never do.
"""

from __future__ import annotations

DEFAULT_COLLECTION = "_default"


def qualified(collection: str, doc_id: str) -> str:
    """The run's name for `doc_id` of `collection`."""
    return doc_id if collection in ("", DEFAULT_COLLECTION, "_default._default") else f"{collection}/{doc_id}"


def split(name: str) -> tuple[str, str]:
    """(collection, document ID) of a run's document name."""
    collection, slash, doc_id = name.partition("/")
    return (collection, doc_id) if slash else (DEFAULT_COLLECTION, name)


def keyspace(db: str, collection: str) -> str:
    """The REST keyspace of `collection` in `db`: `db` or `db.scope.name`."""
    return db if collection in ("", DEFAULT_COLLECTION, "_default._default") else f"{db}.{collection}"
