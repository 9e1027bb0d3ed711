"""Scenarios with a routing spec: the [routing] table, validated like the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig._errors import ConfigError
from rig._paths import project_root
from rig.load.scenario import find_scenario, load_scenario


def _scenario(tmp_path: Path, routing: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f'fleet = "demo"\nusers = 4\n\n[routing]\n{routing}\n')
    return path


def test_the_shipped_teams_scenario() -> None:
    scenario = find_scenario("teams")
    assert scenario.routing is not None
    assert scenario.routing.spec == project_root() / "gateway_config" / "routing" / "teams.toml"
    assert scenario.device_count == 300
    assert find_scenario("smoke").routing is None


def test_routing_keys(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text((project_root() / "gateway_config" / "routing" / "teams.toml").read_text())
    scenario = load_scenario(_scenario(tmp_path, 'spec = "mine.toml"\nuser_channels = ["user.{user}", "x"]\n'
                                                 "bad_write_share = 0\nmax_snapshots = 1\ndelete_share = 0.2"))
    assert scenario.routing is not None
    assert scenario.routing.spec == tmp_path / "mine.toml"
    assert scenario.routing.user_channels == ("user.{user}", "x")
    assert scenario.routing.bad_write_share == 0.0 and scenario.routing.max_snapshots == 1
    assert scenario.routing.delete_share == 0.2


@pytest.mark.parametrize(("routing", "message"), [
    ('spec = "teams"\nbad_write_shar = 0.1', "unknown key 'routing.bad_write_shar' (did you mean 'bad_write_share'?)"),
    ("bad_write_share = 0.1", "routing.spec: missing"),
    ('spec = "nope"', "routing.spec: no routing spec at"),
    ('spec = "teams"\nbad_write_share = 2', "routing.bad_write_share is a share"),
    ('spec = "teams"\ndelete_share = 1.5', "routing.delete_share is a share"),
    ('spec = "teams"\nuser_channels = [1]', "routing.user_channels must be a list of strings"),
])
def test_routing_mistakes_name_the_key(tmp_path: Path, routing: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        load_scenario(_scenario(tmp_path, routing))
