"""`rig device sync` as a user runs it, against the real gateway."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rig.gateway import AdminClient, LocalGateway

pytestmark = pytest.mark.gateway


def _sync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rig", "device", "sync", *args], capture_output=True, text=True,
                          timeout=120)


def _summary(stdout: str) -> dict[str, int]:
    summary: dict[str, int] = json.loads(stdout[stdout.rindex("{\n  \"elapsed_s\""):])
    return summary


def test_device_sync_pushes_pulls_and_refuses_bad_credentials(gateway: LocalGateway, admin: AdminClient,
                                                               db: str) -> None:
    admin.put_user(db, "cli", password="cli-pw", admin_channels=["cli"])
    admin.put_user(db, "other", password="other-pw", admin_channels=["other"])
    admin.put_document(db, "not-for-cli", {"channels": ["other"]})
    url = f"{gateway.public_url}/{db}"

    pushed = _sync("--url", url, "--user", "cli", "--password", "cli-pw", "--create", "4", "--push")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "(one-shot push," in pushed.stdout
    assert _summary(pushed.stdout)["docs_pushed"] == 4
    assert {row["id"] for row in admin.all_docs(db)} >= {f"cli-profile-{i}" for i in range(4)}

    pulled = _sync("--url", url, "--user", "cli", "--password", "cli-pw", "--pull", "-v")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    summary = _summary(pulled.stdout)
    assert summary["docs_pulled"] == 4 and summary["local_documents"] == 4  # its own four, not the other's
    assert "pulled" in pulled.stdout and "not-for-cli" not in pulled.stdout

    refused = _sync("--url", url, "--user", "cli", "--password", "wrong")
    assert refused.returncode != 0
    assert "401" in refused.stderr and "wrong" not in refused.stderr
