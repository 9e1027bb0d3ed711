"""The push service's lean lookups (rig.push.lookups) answer exactly as the admin client does, against
the real Sync Gateway: a user's channels, a document's current channels (a removed one is not), a
missing document as a 404."""

from __future__ import annotations

import pytest

from rig._errors import AdminApiError
from rig.gateway import AdminClient
from rig.push.lookups import GatewayLookups

pytestmark = pytest.mark.gateway


def test_lookups_agree_with_the_admin_client(admin: AdminClient, db: str) -> None:
    admin.put_user(db, "ann", password="ann-pw-1", admin_channels=["ann", "team-1"])
    rev = admin.put_document(db, "doc-1", {"channels": ["ann", "team-1"], "text": "x" * 2000})
    admin.put_document(db, "doc-1", {"_rev": rev, "channels": ["team-1"], "text": "y"})  # leaves channel ann
    lookups = GatewayLookups(admin.url)
    assert lookups.user(db, "ann") == admin.user(db, "ann")
    assert set(lookups.user(db, "ann")["all_channels"]) >= {"ann", "team-1"}
    assert lookups.doc_channels(db, "doc-1") == admin.doc_channels(db, "doc-1") == {"team-1"}
    with pytest.raises(AdminApiError) as missing:
        lookups.doc_channels(db, "no-such-doc")
    assert missing.value.status == 404


def test_lookups_refuse_a_url_they_cannot_serve() -> None:
    assert not GatewayLookups.usable("https://gateway.example:4985")
    with pytest.raises(ValueError, match="plain HTTP"):
        GatewayLookups("https://gateway.example:4985")
