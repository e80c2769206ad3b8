import shutil
from pathlib import Path

import pytest

from bottlefit_ros.energy import PowerReaderError, RpiPmicPower, parse_pmic_read_adc

PMIC_SUM_W = 1.8466285  # by hand from fixtures/rpi5_pmic_read_adc.txt, see the fixtures README
CAT = shutil.which("cat")
needs_cat = pytest.mark.skipif(CAT is None, reason="needs cat to stand in for vcgencmd")


def test_parse_pmic_read_adc_captured_text(fixtures_dir: Path) -> None:
    rails = parse_pmic_read_adc((fixtures_dir / "rpi5_pmic_read_adc.txt").read_text())
    assert len(rails) == 12  # EXT5V_V and BATT_V have no current line
    assert "EXT5V" not in rails and "BATT" not in rails
    assert rails["VDD_CORE"] == pytest.approx(0.76071400 * 0.72000000)
    assert rails["DDR_VDDQ"] == 0.0
    assert sum(rails.values()) == pytest.approx(PMIC_SUM_W, abs=1e-6)


def test_parse_pmic_read_adc_without_pmic() -> None:
    assert parse_pmic_read_adc('error=1 error_msg="Command not registered"\n') == {}
    assert parse_pmic_read_adc("") == {}


@needs_cat
def test_rpi5_reader_runs_the_command(fixtures_dir: Path) -> None:
    reader = RpiPmicPower([CAT, str(fixtures_dir / "rpi5_pmic_read_adc.txt")])
    sample = reader.read()
    assert sample.power_w == pytest.approx(PMIC_SUM_W, abs=1e-6)
    assert sample.rails_w["VDD_CORE"] == pytest.approx(0.547714, abs=1e-6)
    assert reader.measured and "raw PMIC sum" in reader.describe()


@needs_cat
def test_rpi5_reader_calibration(fixtures_dir: Path) -> None:
    reader = RpiPmicPower([CAT, str(fixtures_dir / "rpi5_pmic_read_adc.txt")], gain=1.1451, offset_w=0.5879)
    assert reader.read().power_w == pytest.approx(1.1451 * PMIC_SUM_W + 0.5879, abs=1e-6)
    assert "calibrated" in reader.describe()


def test_rpi5_reader_missing_command() -> None:
    with pytest.raises(PowerReaderError, match="not found on PATH"):
        RpiPmicPower(["no-such-vcgencmd-here", "pmic_read_adc"])


@pytest.mark.skipif(shutil.which("echo") is None, reason="needs echo")
def test_rpi5_reader_on_a_pi_without_pmic_read_adc() -> None:
    with pytest.raises(PowerReaderError, match="Raspberry Pi 5"):
        RpiPmicPower(["echo", 'error=1 error_msg="Command not registered"'])
