from pathlib import Path

import pytest

from bottlefit_ros.energy import JetsonPower, PowerReaderError


def test_jetson_nano_jp4_iio_layout_uses_pom_5v_in_as_total(fixtures_dir: Path) -> None:
    reader = JetsonPower(root=fixtures_dir / "jetson_nano_jp4")
    sample = reader.read()
    assert reader.rail_names == ("POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU")
    assert reader.total_rail == "POM_5V_IN"
    assert sample.power_w == pytest.approx(3.912)  # in_power0_input = 3912 mW, not the sum
    assert sample.rails_w == pytest.approx({"POM_5V_IN": 3.912, "POM_5V_GPU": 1.203, "POM_5V_CPU": 0.978})
    assert reader.measured and reader.layout.startswith("iio")
    text = reader.describe()
    assert "POM_5V_IN" in text and "not added" in text and "in_power0_input" in text


def test_jetson_orin_nano_jp6_hwmon_layout_multiplies_mv_by_ma(fixtures_dir: Path) -> None:
    reader = JetsonPower(root=fixtures_dir / "jetson_orin_nano_jp6")
    sample = reader.read()
    assert reader.rail_names == ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")  # in7 (sum of shunts) skipped
    assert reader.total_rail == "VDD_IN"
    assert sample.power_w == pytest.approx(5.016 * 1.148)
    assert sample.rails_w["VDD_CPU_GPU_CV"] == pytest.approx(5.016 * 0.208)
    assert sample.rails_w["VDD_SOC"] == pytest.approx(5.016 * 0.312)
    assert reader.layout.startswith("hwmon")


def test_jetson_agx_orin_without_vdd_in_sums_rails_and_skips_nc(fixtures_dir: Path) -> None:
    reader = JetsonPower(root=fixtures_dir / "jetson_agx_orin_jp5")
    sample = reader.read()
    assert reader.rail_names == ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO")
    assert reader.total_rail is None
    expected = 4.968 * 0.645 + 4.968 * 0.887 + 4.984 * 0.956 + 4.976 * 0.162
    assert sample.power_w == pytest.approx(expected)
    assert sample.power_w == pytest.approx(13.181792)
    assert "sum of" in reader.describe()


def test_jetson_missing_names_both_layouts(tmp_path: Path) -> None:
    with pytest.raises(PowerReaderError, match=r"ina3221x.*JetPack 4.*ina3221/.*JetPack 5/6"):
        JetsonPower(root=tmp_path)


def test_jetson_rail_vanishing_after_start_raises_reader_error(copy_fixture) -> None:
    root = copy_fixture("jetson_orin_nano_jp6")
    reader = JetsonPower(root=root)
    next(root.rglob("curr2_input")).unlink()
    with pytest.raises(PowerReaderError, match="VDD_CPU_GPU_CV.*curr2_input.*no such file"):
        reader.read()
