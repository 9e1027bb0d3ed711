"""Verdicts a release can be gated on, on the real gateway: no false PASS, every refusal judged,
sync functions handed over intact (or refused naming the file)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rig._errors import SyncFunctionRefused
from rig._paths import project_root
from rig.conformance import Harness, default_spec_path
from rig.conformance.cases import membership, note
from rig.conformance.runner import pytest_counts
from rig.gateway import AdminClient, DatabaseSpec
from rig.oracle import Kind, load, render

pytestmark = pytest.mark.gateway

ODD = "// a `back-quoted` word in a comment, ${HOME}, $1 and $$, ünïcode ☃ and a \\` escaped one\n"
STDERR = "\n--- stderr ---\n"
GRANT_ON_DELETE = '''    if (live) {
      access(expand(doc, "{member}"), all(doc, ["team.{team}"]));
    }'''
NOTE_CHANNELS = '    channel(all(src, ["user.{owner}", "team.{team}"]));\n'


def rendered() -> str:
    return render(load(default_spec_path()))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def conform(tmp_path: Path, sync: Path, *args: str, routing: bool = True) -> tuple[int, str, dict[str, str]]:
    """`rig conform` in a subprocess: exit code, stdout + STDERR + stderr, the rows printed (row -> outcome)."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rig", "conform", "--sync-function", str(sync), "--out", str(out), *args]
    if "--cbl" not in args:
        command += ["--cbl", "3.3"]  # one release: one run, its column labelled by the gateway alone
    if routing:
        command += ["--routing", str(default_spec_path())]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=project_root())
    rows = dict((m[2], m[1]) for m in re.finditer(r"^  (PASSED|FAILED|ERROR|SKIPPED)\s+(\S+) \(", done.stdout, re.M))
    return done.returncode, done.stdout + STDERR + done.stderr, rows


def assert_counts_match_pytest(output: str, log: Path) -> None:
    printed = re.search(r"^main: (\d+) passed, (\d+) failed, (\d+) errors, (\d+) skipped", output, re.M)
    assert printed, output
    summary = pytest_counts(log)
    assert summary is not None
    counts = summary[1]
    assert [int(n) for n in printed.groups()] == [counts.get(k, 0) for k in ("passed", "failed", "error", "skipped")]
    assert "counts disagree" not in output


def test_a_sync_function_with_back_quotes_dollars_and_unicode_reaches_the_gateway_intact(
        admin: AdminClient, tmp_path: Path) -> None:
    text = ODD + rendered()
    name = "odd_function"
    admin.create_database_from_spec(DatabaseSpec(name, sync_function=write(tmp_path, "odd.js", text)))
    assert admin._json("GET", f"/{name}/_config")["sync"] == text


def test_a_function_the_gateway_cannot_compile_is_refused_naming_the_file(admin: AdminClient,
                                                                           tmp_path: Path) -> None:
    path = write(tmp_path, "typo.js", rendered().replace("{", "{{", 1))
    with pytest.raises(SyncFunctionRefused, match=re.escape(str(path)) + ".*invalid javascript syntax"):
        admin.create_database_from_spec(DatabaseSpec("typo_function", sync_function=path))
    es6 = write(tmp_path, "arrow.js", "(doc) => { channel(`c${doc.n}`); }")  # otto is ES5: refused too
    with pytest.raises(SyncFunctionRefused, match=r"arrow\.js"):
        admin.create_database_from_spec(DatabaseSpec("arrow_function", sync_function=es6))


def test_a_push_answered_with_a_5xx_is_a_refusal_the_oracle_judges(make_harness: Callable[..., Harness],
                                                                    tmp_path: Path) -> None:
    """The function throws (not forbidden) for one note: the gateway answers 500, the write is judged."""
    boom = '    if (src.text === "boom") { src.missing.field = 1; }\n'
    throws = rendered().replace('  if (type === "note") {\n', '  if (type === "note") {\n' + boom, 1)
    assert "boom" in throws
    h = make_harness(sync=write(tmp_path, "throws.js", throws))
    h.write("m-bob-blue", membership("bob", "blue"))
    bob = h.device("bob")
    bob.store.put("n-ok", note("bob", "blue"))
    bob.store.put("n-boom", note("bob", "blue", "boom"))
    h.sync(bob)
    h.sync(bob)  # still pending on the device, pushed again: the refusal is recorded once
    refused = [o for o in h.observations if getattr(o, "doc", None) == "n-boom"]
    assert len(refused) == 1 and refused[0].status == 500 and not refused[0].accepted  # type: ignore[union-attr]
    [finding] = h.findings()
    assert (finding.kind, finding.doc, finding.user, finding.device) == (Kind.WRITE_REJECTED, "n-boom", "bob",
                                                                         "bob-1")
    assert finding.rule == "note.require_user({owner}), note.require_access(team.{team})"
    assert "500" in finding.detail and "JS sync function" in finding.detail


@pytest.mark.slow
def test_rig_conform_never_hides_a_failing_spec_checked_variant(tmp_path: Path) -> None:
    """Membership grants kept on delete: only the spec-checked variant of the case catches it
    (its gateway-view variant passes, as the gateway is consistent with itself); before, that
    variant's row overwrote the failing one and `rig conform` said PASSED with exit 0."""
    source = rendered()
    assert GRANT_ON_DELETE in source
    kept = write(tmp_path, "kept.js", source.replace(
        GRANT_ON_DELETE, '    access(expand(src, "{member}"), all(src, ["team.{team}"]));'))
    code, output, rows = conform(tmp_path, kept, "-k", "revocation_while_asleep", "--workers", "2")
    assert code == 1, output
    assert rows == {"test_case[revocation_while_asleep]": "FAILED",
                    "test_case_against_the_gateway_view[revocation_while_asleep]": "PASSED"}, output
    assert "revocation_not_applied" in output and "rule=membership.access " in output
    assert "VERDICT main: FAIL" in output
    assert_counts_match_pytest(output, tmp_path / "out" / "main" / "pytest.log")


@pytest.mark.slow
def test_rig_conform_an_expiring_note_is_the_gateway_s_own_deletion_the_gateway_view_passes(tmp_path: Path) -> None:
    """A function that gives every note an expiry in the past (docs/conformance.md, "A fault only the gateway
    view catches"): the gateway expires each note at once and imports the expiry as a tombstone of its own,
    which it routes and delivers consistently, so the gateway-view variant passes; the spec-checked variant
    fails (bob misses the team's notes). Pins that expiry is no candidate for a gateway-view-only fault."""
    source = rendered()
    assert NOTE_CHANNELS in source
    expiring = write(tmp_path, "expiring.js", source.replace(
        NOTE_CHANNELS, NOTE_CHANNELS + '    expiry("2001-01-01T00:00:00Z");\n', 1))
    code, output, rows = conform(tmp_path, expiring, "-k", "revocation_while_asleep", "--workers", "2")
    assert code == 1, output
    assert rows == {"test_case[revocation_while_asleep]": "FAILED",
                    "test_case_against_the_gateway_view[revocation_while_asleep]": "PASSED"}, output
    assert re.search(r"miss: n-red-0@\S+ user=bob .*rule=note\.channels via membership\.access", output), output
    assert "VERDICT main: FAIL" in output
    assert_counts_match_pytest(output, tmp_path / "out" / "main" / "pytest.log")


@pytest.mark.slow
def test_rig_conform_without_routing_says_what_it_cannot_see_and_names_a_refused_file(tmp_path: Path) -> None:
    typo = write(tmp_path, "typo.js", rendered().replace("{", "{{", 1))
    code, output, rows = conform(tmp_path, typo, "-k", "roles", "--workers", "1", routing=False)
    assert code == 1, output
    assert "MODE: gateway view" in output and "no write checks and no policy" in output
    assert "VERDICT main: FAIL" in output and "(gateway view only: no write checks, no policy)" in output
    assert f"{typo}: Sync Gateway refused the sync function" in output
    assert rows == {"test_case[roles]": "FAILED"}, output
    assert_counts_match_pytest(output, tmp_path / "out" / "main" / "pytest.log")


@pytest.mark.slow
def test_rig_conform_passes_a_function_with_a_back_quote_in_a_comment(tmp_path: Path) -> None:
    odd = write(tmp_path, "odd.js", ODD + rendered())
    code, output, _ = conform(tmp_path, odd, "--workers", "2", "--json")
    assert code == 0, output
    [run] = json.loads(output.split(STDERR, 1)[0])  # stdout is the JSON alone; the mode went to stderr
    assert run["verdict"] == "PASS" and run["failures"] == [] and run["problems"] == []
    assert len(run["cases"]) >= 15 and {c["outcome"] for c in run["cases"].values()} == {"passed"}
    assert sum(run["counts"].values()) == len(run["cases"])
    assert run["pytest"]["summary"].startswith(f"{len(run['cases'])} passed in ")
