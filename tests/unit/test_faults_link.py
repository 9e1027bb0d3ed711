"""The pure link model: presets, the profile's link mix, one shaped direction."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig._errors import ConfigError
from rig.device.profile import find_profile, profiles_dir
from rig.faults.link import MSS, PRESETS, LinkQuality, Pipe, check_mix, draw_link, link_quality


def test_every_profile_names_known_presets() -> None:
    for path in sorted(profiles_dir().glob("*.toml")):
        profile = find_profile(path.stem)
        check_mix(profile.link, where=f"{path}: link")
        assert draw_link(profile.link, random.Random(1)).name in profile.link


def test_an_unknown_preset_names_the_key_and_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"ios.toml: link.slow5g: unknown link preset 'slow5g' "
                                          r"\(did you mean 'slow4g'\?\)"):
        check_mix({"slow5g": 1.0}, where="ios.toml: link")
    with pytest.raises(ConfigError, match="at least one weight"):
        check_mix({"cable": 0.0}, where="x: link")
    assert link_quality("cable").rtt_s == 0.028


def test_draw_follows_the_weights() -> None:
    rng = random.Random(7)
    names = [draw_link({"slow4g": 0.7, "fast4g": 0.2, "cable": 0.1}, rng).name for _ in range(2000)]
    assert 0.65 < names.count("slow4g") / 2000 < 0.75
    assert 0.07 < names.count("cable") / 2000 < 0.13


def test_bandwidth_and_latency() -> None:
    pipe = Pipe(0.075, 1_600_000, 0.0, 0.35, random.Random(1))
    segments = pipe.schedule(10.0, 200_000)
    assert sum(n for _, n in segments) == 200_000
    assert all(n <= MSS for _, n in segments)
    assert segments[-1][0] == pytest.approx(10.0 + 200_000 * 8 / 1_600_000 + 0.075)
    # The link is busy until then: later bytes queue behind.
    assert pipe.schedule(10.5, 100)[0][0] == pytest.approx(11.0 + 100 * 8 / 1_600_000 + 0.075)
    # An idle link: only latency and serialisation.
    assert pipe.schedule(20.0, 10)[0][0] == pytest.approx(20.075 + 80 / 1_600_000)


def test_loss_is_a_stall_that_holds_back_everything_behind_it() -> None:
    pipe = Pipe(0.01, 0, 0.5, 0.22, random.Random(3))
    dues = [due for due, _ in pipe.schedule(0.0, 40 * MSS)]
    assert pipe.stalls > 5
    assert dues == sorted(dues)  # in order, as TCP delivers
    assert max(dues) >= 0.01 + 0.22
    assert LinkQuality("x", 0.1, 0, 0, loss=0.1).rto_s == pytest.approx(0.3)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.integers(0, 20_000)), max_size=30),
       st.floats(0, 0.5), st.sampled_from([0, 100_000, 5_000_000]), st.floats(0, 0.9))
def test_schedules_are_ordered_and_never_early(writes: list[tuple[float, int]], delay: float, bps: int,
                                               loss: float) -> None:
    pipe = Pipe(delay, bps, loss, delay * 2 + 0.2, random.Random(0))
    last = 0.0
    now = 0.0
    for step, size in writes:
        now += step
        out = pipe.schedule(now, size)
        assert sum(n for _, n in out) == size
        for due, _ in out:
            assert due >= now + delay - 1e-9
            assert due >= last
            last = due


@pytest.mark.parametrize("bad", [{"rtt_s": -1.0}, {"loss": 1.0}, {"down_bps": -5.0}])
def test_invalid_link_quality(bad: dict[str, float]) -> None:
    values = {"name": "x", "rtt_s": 0.1, "down_bps": 1.0, "up_bps": 1.0, **bad}
    with pytest.raises(ConfigError):
        LinkQuality(**values)  # type: ignore[arg-type]


def test_presets_follow_the_spec_table() -> None:
    assert {name: (q.rtt_s, q.down_bps, q.up_bps) for name, q in PRESETS.items()} == {
        "slow3g": (0.4, 500_000, 500_000), "slow4g": (0.15, 1_600_000, 750_000),
        "fast4g": (0.06, 9_000_000, 1_500_000), "cable": (0.028, 5_000_000, 1_000_000),
        "wifi": (0.004, 20_000_000, 5_000_000)}
