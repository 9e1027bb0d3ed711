"""Malformed input files: every mistake is a ConfigError naming the file, the key and the problem.

One table per kind of file (scenario, device profile, fleet, routing spec, gateway
config), each with the four kinds of mistake: an unknown key (with the closest known
key suggested), a value of the wrong type, a missing required key, invalid TOML/JSON
(with its line).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rig._errors import ConfigError
from rig.device.profile import load_fleet, load_profile
from rig.gateway.config import DatabaseSpec, Interfaces, render
from rig.load.scenario import load_scenario
from rig.oracle.routing import load as load_routing

Loader = Callable[[Path], Any]

PROFILE = 'platform = "ios"\n'
ROUTING = 'name = "t"\n[types.note]\nchannels = ["team.{team}"]\n'

CASES: list[tuple[str, Loader, str, list[str]]] = [
    # (kind, loader, file text, fragments the message must contain besides the file's path)
    ("scenario-typo", load_scenario, 'fleet = "demo"\nduraton_s = 5\n',
     ["unknown key 'duraton_s'", "did you mean 'duration_s'?"]),
    ("scenario-typo-nested", load_scenario, '[workload]\ndoc_size_byte = 10\n',
     ["unknown key 'workload.doc_size_byte'", "did you mean 'doc_size_bytes'?"]),
    ("scenario-type", load_scenario, 'time_scale = "fast"\n', ["time_scale must be float", "'fast'"]),
    ("scenario-type-nested", load_scenario, '[workload]\ndocs_per_user = 2.5\n',
     ["workload.docs_per_user must be int", "2.5"]),
    ("scenario-fleet", load_scenario, 'fleet = "dmeo"\n', ["fleet: no fleet 'dmeo'", "did you mean 'demo'?"]),
    ("scenario-toml", load_scenario, 'fleet = "demo"\nusers = \n', ["invalid TOML", "line 2"]),
    ("profile-typo", load_profile, PROFILE + "[push]\nthrotle_capacity = 3\n",
     ["unknown key 'push.throtle_capacity'", "did you mean 'throttle_capacity'?"]),
    ("profile-typo-top", load_profile, PROFILE + "[refrsh]\nenabled = true\n",
     ["unknown key 'refrsh'", "did you mean 'refresh'?"]),
    ("profile-link-preset", load_profile, PROFILE + "[link]\nslow4G = 1.0\n",
     ["link.slow4G", "unknown link preset 'slow4G'", "did you mean 'slow4g'?"]),
    ("profile-type", load_profile, PROFILE + "[kill]\nbackground_per_hour = \"often\"\n",
     ["kill.background_per_hour must be a number", "'often'"]),
    ("profile-missing", load_profile, "[kill]\nbackground_per_hour = 0.1\n", ["missing required key 'platform'"]),
    ("profile-toml", load_profile, PROFILE + "[push\nenabled = true\n", ["invalid TOML", "line 2"]),
    ("fleet-typo", load_fleet, 'user = 3\n[[mix]]\nprofile = "ios-active"\n',
     ["unknown key 'user'", "did you mean 'users'?"]),
    ("fleet-typo-mix", load_fleet, 'users = 3\n[[mix]]\nprofil = "ios-active"\n',
     ["unknown key 'mix[0].profil'", "did you mean 'profile'?"]),
    ("fleet-profile", load_fleet, 'users = 3\n[[mix]]\nprofile = "ios-activ"\n',
     ["mix[0].profile", "unknown device profile 'ios-activ'", "did you mean 'ios-active'?"]),
    ("fleet-type", load_fleet, 'users = "ten"\n[[mix]]\nprofile = "ios-active"\n',
     ["users must be a whole number", "'ten'"]),
    ("fleet-type-profile", load_fleet, 'users = 1\n[[mix]]\nprofile = 7\n', ["mix[0].profile must be", "7"]),
    ("fleet-missing", load_fleet, '[[mix]]\nprofile = "ios-active"\n', ["missing required key 'users'"]),
    ("fleet-missing-mix", load_fleet, 'users = 2\n', ["missing required key 'mix'"]),
    ("fleet-toml", load_fleet, 'users = 2\n[[mix]\n', ["invalid TOML", "line 2"]),
    ("routing-typo", load_routing, ROUTING + 'chanels = ["x"]\n',
     ["types.note.chanels", "unknown key", "did you mean 'channels'?"]),
    ("routing-typo-top", load_routing, 'type_feld = "kind"\n' + ROUTING,
     ["type_feld", "did you mean 'type_field'?"]),
    ("routing-type", load_routing, 'name = "t"\n[types.note]\nchannels = "team"\n',
     ["types.note.channels", "expected a list of strings"]),
    ("routing-missing", load_routing, 'name = "t"\n', ["types", "missing"]),
    ("routing-missing-name", load_routing, '[types.note]\nchannels = ["a"]\n', ["name: missing"]),
    ("routing-toml", load_routing, 'name = "t"\n\n[types.note\n', ["invalid TOML", "line 3"]),
]


@pytest.mark.parametrize(("loader", "text", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_mistake_names_the_file_the_key_and_the_problem(tmp_path: Path, loader: Loader, text: str,
                                                           fragments: list[str]) -> None:
    path = tmp_path / "input.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        loader(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:"), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_no_suggestion_when_nothing_is_close(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("zzzz = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert "did you mean" not in str(caught.value)
    assert "(known: description, fleet" in str(caught.value)


def test_a_fleet_naming_a_broken_profile_names_both_files(tmp_path: Path) -> None:
    (tmp_path / "odd.toml").write_text('platform = "ios"\n[link]\ncable = "fast"\n')
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('users = 1\n[[mix]]\nprofile = "odd"\n')
    with pytest.raises(ConfigError) as caught:
        load_fleet(fleet, tmp_path)
    assert str(fleet) in str(caught.value) and str(tmp_path / "odd.toml") in str(caught.value)
    assert "link.cable must be a number" in str(caught.value)


@pytest.mark.parametrize(("name", "text", "fragment"), [
    ("gateway.json", '{\n  "logging": {\n    "console": \n  }\n}\n', "invalid JSON at line 4"),
    ("database.json", '[1, 2]', "expected a JSON object"),
])
def test_gateway_config_mistakes_name_the_file_and_the_line(tmp_path: Path, name: str, text: str,
                                                            fragment: str) -> None:
    (tmp_path / "gateway.json").write_text("{}")
    (tmp_path / "database.json").write_text("{}")
    (tmp_path / "sync").mkdir()
    (tmp_path / "sync" / "default.js").write_text("function(doc) { channel(doc.channels); }")
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as caught:
        render([DatabaseSpec("db")], Interfaces("a", "b", "c"), data_dir=None, config_root=tmp_path)
    assert str(tmp_path / name) in str(caught.value)
    assert fragment in str(caught.value)
