from pathlib import Path

import pytest

from bottlefit_ros.energy import HwmonPower, PowerReaderError


def test_hwmon_ina226_power1_input_in_microwatts(fixtures_dir: Path) -> None:
    reader = HwmonPower(root=fixtures_dir / "ina226_hwmon")
    sample = reader.read()
    assert sample.power_w == pytest.approx(15.125)
    assert sample.rails_w == pytest.approx({"ina226@hwmon2": 15.125})
    assert reader.name == "hwmon-ina226"
    assert "power1_input" in reader.describe()


def test_hwmon_falls_back_to_bus_voltage_times_current(copy_fixture) -> None:
    root = copy_fixture("ina226_hwmon")
    (root / "sys/class/hwmon/hwmon2/power1_input").unlink()
    assert HwmonPower(root=root).read().power_w == pytest.approx(12.096 * 1.25)


def test_hwmon_without_shunt_monitor(fixtures_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PowerReaderError, match="no shunt monitor"):
        HwmonPower(root=tmp_path)
    with pytest.raises(PowerReaderError, match="'hwmon1'"):
        HwmonPower(root=fixtures_dir / "ina226_hwmon", device="hwmon1")  # the NVMe sensor
