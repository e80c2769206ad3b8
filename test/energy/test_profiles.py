from pathlib import Path

import pytest

from bottlefit_ros.energy import PowerProfileError, load_power_profile, power_profile_names

REQUIRED = ("jetson_nano", "jetson_orin_nano", "raspberry_pi_4", "raspberry_pi_5", "generic_x86_laptop")


def test_required_profiles_are_packaged() -> None:
    assert set(REQUIRED) <= set(power_profile_names())


@pytest.mark.parametrize("name", power_profile_names())
def test_every_profile_loads_with_a_source_for_each_number(name: str) -> None:
    profile = load_power_profile(name)
    assert profile.name.split(":")[0] == name.split(":")[0]
    assert 0 < profile.idle_w < profile.compute_w
    assert 0 < profile.radio_tx_j_per_byte < 1e-4
    assert profile.rough
    for field in ("idle_w", "compute_w", "radio_tx_j_per_byte"):
        assert profile.source.get(field), f"{name}: no source for {field}"


def test_jetson_nano_modes() -> None:
    default = load_power_profile("jetson_nano")
    assert default.name == "jetson_nano:10w" and default.compute_w == 10.0
    assert 1.0 <= default.idle_w < 2.0
    low = load_power_profile("jetson_nano:5w")
    assert low.compute_w == 5.0 and low.idle_w == default.idle_w
    assert "5 W budget" in low.description


def test_unknown_profile_and_mode() -> None:
    with pytest.raises(PowerProfileError, match="unknown power profile 'jetson_tx9'.*jetson_nano"):
        load_power_profile("jetson_tx9")
    with pytest.raises(PowerProfileError, match="no mode '20w'"):
        load_power_profile("jetson_nano:20w")
    with pytest.raises(PowerProfileError, match="has no modes"):
        load_power_profile("raspberry_pi_4:turbo")


def test_user_file_overrides_and_derives_radio_energy(tmp_path: Path) -> None:
    user = tmp_path / "profiles.yaml"
    user.write_text(
        "profiles:\n"
        "  my_robot:\n"
        "    description: our robot, measured with a USB meter\n"
        "    rough: false\n"
        "    idle_w: 4.0\n"
        "    compute_w: 9.0\n"
        "    radio_tx_w: 1.0\n"
        "    radio_throughput_mbps: 20\n"
        "    source: {idle_w: our bench, compute_w: our bench, radio_tx_w: our bench}\n"
        "  raspberry_pi_4:\n"
        "    idle_w: 2.0\n"
        "    compute_w: 6.0\n"
        "    radio_tx_j_per_byte: 1.0e-6\n"
    )
    mine = load_power_profile("my_robot", path=user)
    assert mine.radio_tx_j_per_byte == pytest.approx(1.0 / (20e6 / 8))  # 0.4 uJ/byte
    assert not mine.rough
    assert load_power_profile("raspberry_pi_4", path=user).idle_w == 2.0
    assert load_power_profile("raspberry_pi_4").idle_w != 2.0  # packaged one untouched
    assert "my_robot" in power_profile_names(path=user)


def test_malformed_user_profile(tmp_path: Path) -> None:
    user = tmp_path / "profiles.yaml"
    user.write_text("profiles:\n  half:\n    idle_w: 1.0\n    radio_tx_j_per_byte: 1e-6\n")
    with pytest.raises(PowerProfileError, match="lacks 'compute_w'"):
        load_power_profile("half", path=user)
    user.write_text("profiles:\n  neg:\n    idle_w: -1\n    compute_w: 2\n    radio_tx_j_per_byte: 1e-6\n")
    with pytest.raises(PowerProfileError, match="idle_w must be"):
        load_power_profile("neg", path=user)
    with pytest.raises(PowerProfileError, match="cannot read"):
        load_power_profile("neg", path=tmp_path / "missing.yaml")
