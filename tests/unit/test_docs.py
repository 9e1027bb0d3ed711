"""The README is the front door: its links and the docs' links resolve, its command table names
every `rig` command the parser knows, and it stays short."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from rig.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text())
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def relative_links(page: Path) -> list[str]:
    text = _FENCE.sub("", page.read_text())
    return [target for target in _LINK.findall(text) if not re.match(r"^[a-z]+:", target)]


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target} (no {resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.name})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_a_broken_link_and_a_missing_anchor_are_caught(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A title\n\n## Some section\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#some-section) [gone](missing.md) [anchor](there.md#nowhere) "
                    "[web](https://example.com/x) ![pic](there.md)\n```sh\n[not a link](nope.md)\n```\n")
    assert broken_links(page) == ["missing.md (no " + str(tmp_path / "missing.md") + ")",
                                  "there.md#nowhere (no heading #nowhere in there.md)"]


def commands(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Every `rig` command and its actions (`gateway` -> [build, up, ...]), from the parser itself."""
    found: dict[str, list[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = [inner for a in sub._actions if isinstance(a, argparse._SubParsersAction)
                               for inner in a.choices]
    return found


def _table_rows(readme: str) -> list[str]:
    start = readme.index("## Commands")
    section = readme[start:readme.index("\n## ", start + 1)]
    return [line for line in section.splitlines() if line.startswith("| `rig ")]


def missing_from_table(readme: str, known: dict[str, list[str]]) -> list[str]:
    rows = _table_rows(readme)
    missing = []
    for command, actions in known.items():
        row = next((r for r in rows if re.match(rf"\| `rig {command}[ `]", r)), None)
        if row is None:
            missing.append(command)
            continue
        cell = row.replace("\\|", "\0").split("|")[1].replace("\0", "|")
        missing += [f"{command} {a}" for a in actions if not re.search(rf"[ |]{re.escape(a)}[ |`]", cell)]
    return missing


def test_the_readme_table_names_every_command_and_action() -> None:
    known = commands(_parser())
    assert {"run", "gateway", "report"} <= set(known) and "up" in known["gateway"]
    assert missing_from_table((ROOT / "README.md").read_text(), known) == []


def test_a_command_missing_from_the_table_is_caught() -> None:
    readme = ("## Commands\n\n| command | what |\n|---|---|\n| `rig run SCENARIO` | runs |\n"
              "| `rig gateway up\\|down` | gateway |\n\n## Next\n")
    assert missing_from_table(readme, {"run": [], "gateway": ["up", "down", "fault"], "check": []}) == \
        ["gateway fault", "check"]


def test_the_readme_is_a_front_door() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    assert text.index("./rig.sh demo") < 300 and text.index("./rig.sh test") < 400
