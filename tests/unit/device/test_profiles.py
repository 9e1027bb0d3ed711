"""Profiles and fleets: every shipped file loads; mistakes name the file and the key."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from rig._errors import ConfigError
from rig.device.profile import LogNormal, load_fleet, load_profile, profiles_dir


def test_every_shipped_profile_and_fleet_loads() -> None:
    profiles = {p.stem: load_profile(p) for p in profiles_dir().glob("*.toml")}
    assert {"ios-active", "android-active", "windows-ac"} <= set(profiles)
    assert {p.platform for p in profiles.values()} == {"ios", "android", "windows"}
    for name in ("demo", "mixed"):
        fleet = load_fleet(profiles_dir().parent / "fleets" / f"{name}.toml")
        assert fleet.users * fleet.devices_per_user == 300
        assigned = fleet.assign(random.Random(1))
        assert len(assigned) == 300
        assert len({(p.name, p.cbl) for _, p in assigned}) == len(fleet.mix)


def test_the_mixed_fleet_mixes_app_releases_mostly_the_current_one() -> None:
    fleet = load_fleet(profiles_dir().parent / "fleets" / "mixed.toml")
    releases = [p.cbl for _, p in fleet.assign(random.Random(1))]
    share = {name: releases.count(name) / len(releases) for name in set(releases)}
    assert set(share) == {"3.3", "3.4", "4.1"}
    assert share["4.1"] > 0.5
    assert min(share.values()) > 0.1


def test_a_profile_and_a_mix_line_name_the_release(tmp_path: Path) -> None:
    (tmp_path / "phone.toml").write_text('platform = "ios"\ncbl = "3.4"\n')
    assert load_profile(tmp_path / "phone.toml").cbl == "3.4"
    assert load_profile(profiles_dir() / "ios-active.toml").cbl == "3.3"  # no key: the default release
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('users = 1\n[[mix]]\nprofile = "phone"\n[[mix]]\nprofile = "phone"\ncbl = "4.1"\n')
    assert [p.cbl for p, _ in load_fleet(fleet, tmp_path).mix] == ["3.4", "4.1"]


@pytest.mark.parametrize(("profile", "fleet", "where"), [
    ('platform = "ios"\ncbl = "4.2"\n', 'users = 1\n[[mix]]\nprofile = "phone"\n', "phone.toml: cbl"),
    ('platform = "ios"\ncbl = 4.1\n', 'users = 1\n[[mix]]\nprofile = "phone"\n', "phone.toml: cbl"),
    ('platform = "ios"\n', 'users = 1\n[[mix]]\nprofile = "phone"\ncbl = "3.5"\n', "fleet.toml: mix[0].cbl"),
])
def test_an_unknown_release_names_the_file_and_the_key(tmp_path: Path, profile: str, fleet: str,
                                                       where: str) -> None:
    (tmp_path / "phone.toml").write_text(profile)
    (tmp_path / "fleet.toml").write_text(fleet)
    with pytest.raises(ConfigError) as err:
        load_fleet(tmp_path / "fleet.toml", tmp_path)
    assert where in str(err.value)
    assert "unknown Couchbase Lite release" in str(err.value)
    assert "3.3, 3.4, 4.1" in str(err.value) or 'cbl = "4.1"' in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('platform = "ios"\n[refresh]\nbudget_second = 30\n', "unknown key 'refresh.budget_second'"),
        ('platform = "ios"\n[push]\ndrop_probability = "high"\n', "push.drop_probability must be a number"),
        ('platform = "ios"\n[push]\ndrop_probability = 2\n', "push.drop_probability is a probability"),
        ('platform = "ios"\n[push]\nthrottle_capacity = 1.5\n', "push.throttle_capacity must be a whole number"),
        ('platform = "ios"\n[refresh]\nenabled = 1\n', "refresh.enabled must be true or false"),
        ('platform = "ios"\n[refresh]\ngap_minutes = 5\n', "refresh.gap_minutes must be {median"),
        ('platform = "symbian"\n', "platform must be one of"),
        ('platfrom = "ios"\n', "unknown key 'platfrom'"),
        ('platform = "ios"\n[kill\n', "invalid TOML"),
    ],
)
def test_mistakes_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_fleet_mistakes(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text('users = 3\n[[mix]]\nprofile = "no-such-phone"\n')
    with pytest.raises(ConfigError, match="unknown device profile 'no-such-phone'"):
        load_fleet(path)
    path.write_text('users = 0\n[[mix]]\nprofile = "ios-active"\n')
    with pytest.raises(ConfigError, match="users must be a whole number"):
        load_fleet(path)
    path.write_text('users = 2\n[[mix]]\nprofile = "ios-active"\nwieght = 2\n')
    with pytest.raises(ConfigError, match=r"unknown key 'mix\[0\].wieght' \(did you mean 'weight'\?\)"):
        load_fleet(path)


def test_lognormal_matches_its_median_and_p90() -> None:
    rng = random.Random(5)
    samples = sorted(LogNormal(90.0, 360.0).sample(rng) for _ in range(20000))
    assert samples[10000] == pytest.approx(90.0, rel=0.05)
    assert samples[18000] == pytest.approx(360.0, rel=0.08)
