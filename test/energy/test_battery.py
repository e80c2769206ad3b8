from pathlib import Path

import pytest

from bottlefit_ros.energy import BatteryPower, PowerReaderError


def test_battery_discharging_current_times_voltage(fixtures_dir: Path) -> None:
    reader = BatteryPower(root=fixtures_dir / "battery_discharging")
    sample = reader.read()
    assert reader.directory.name == "sbs-9-000b"  # the HID mouse battery (scope Device) is skipped
    assert sample.power_w == pytest.approx(0.870 * 15.8)  # current_now is negative: sign dropped
    assert reader.discharging
    assert "robot's draw" in reader.describe() and "NOT" not in reader.describe()


def test_battery_charging_is_flagged(fixtures_dir: Path) -> None:
    reader = BatteryPower(root=fixtures_dir / "battery_charging")
    assert reader.read().power_w == pytest.approx(24.5)  # power_now, uW
    assert not reader.discharging
    assert "NOT the robot's draw" in reader.describe()


def test_battery_status_is_followed_on_every_read(copy_fixture) -> None:
    root = copy_fixture("battery_discharging")
    reader = BatteryPower(root=root)
    assert reader.discharging
    (root / "sys/class/power_supply/sbs-9-000b/status").write_text("Charging\n")
    reader.read()
    assert not reader.discharging


def test_battery_missing(tmp_path: Path, fixtures_dir: Path) -> None:
    with pytest.raises(PowerReaderError, match="no battery"):
        BatteryPower(root=tmp_path)
    with pytest.raises(PowerReaderError, match="named 'BAT9'"):
        BatteryPower(root=fixtures_dir / "battery_charging", supply="BAT9")
