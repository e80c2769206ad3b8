import shutil
from pathlib import Path

import pytest

from bottlefit_ros.energy import (
    AUTO_ORDER,
    BatteryPower,
    EstimatedPower,
    HwmonPower,
    JetsonPower,
    PowerReaderError,
    RaplPower,
    RpiPmicPower,
    guess_power_profile,
    make_power_reader,
)


@pytest.fixture
def no_vcgencmd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only an empty directory, so the rpi5 probe never finds a real vcgencmd."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        ("jetson_nano_jp4", JetsonPower),
        ("jetson_orin_nano_jp6", JetsonPower),
        ("jetson_agx_orin_jp5", JetsonPower),
        ("ina226_hwmon", HwmonPower),
        ("intel_rapl_server", RaplPower),
        ("intel_rapl_laptop", RaplPower),
        ("battery_discharging", BatteryPower),
        ("battery_charging", EstimatedPower),  # charging: not the robot's draw, so estimate
    ],
)
def test_auto_picks_the_reader_of_each_tree(fixtures_dir: Path, no_vcgencmd: Path, tree: str, expected: type) -> None:
    reader = make_power_reader("auto", root=fixtures_dir / tree)
    assert type(reader) is expected


def test_auto_prefers_jetson_over_later_kinds(tmp_path: Path, fixtures_dir: Path, no_vcgencmd: Path) -> None:
    root = tmp_path / "robot"
    for tree in ("battery_discharging", "intel_rapl_server", "jetson_nano_jp4"):
        shutil.copytree(fixtures_dir / tree, root, dirs_exist_ok=True)
    assert type(make_power_reader(root=root)) is JetsonPower


def test_auto_falls_back_to_the_estimate_on_an_empty_tree(tmp_path: Path, no_vcgencmd: Path) -> None:
    reader = make_power_reader("auto", root=tmp_path / "empty")
    assert isinstance(reader, EstimatedPower) and not reader.measured
    assert reader.profile.name == "generic_x86_laptop"
    assert len(reader.reasons) == len(AUTO_ORDER)
    assert "No sensor used" in reader.describe()
    chosen = make_power_reader("auto", root=tmp_path / "empty", profile="raspberry_pi_4")
    assert isinstance(chosen, EstimatedPower) and chosen.profile.name == "raspberry_pi_4"


def test_auto_finds_rpi5_through_vcgencmd_on_path(fixtures_dir: Path, tmp_path: Path, no_vcgencmd: Path) -> None:
    cat = shutil.which("cat", path="/usr/bin:/bin")
    if cat is None:
        pytest.skip("needs cat")
    fake = no_vcgencmd / "vcgencmd"
    fake.write_text(f'#!/bin/sh\nexec {cat} "{fixtures_dir / "rpi5_pmic_read_adc.txt"}"\n')
    fake.chmod(0o755)
    reader = make_power_reader("auto", root=tmp_path / "empty")
    assert type(reader) is RpiPmicPower
    assert reader.read().power_w == pytest.approx(1.8466285, abs=1e-6)


def test_profile_guess_from_device_tree_model(tmp_path: Path, no_vcgencmd: Path) -> None:
    model = tmp_path / "proc/device-tree/model"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"NVIDIA Jetson Nano Developer Kit\x00")
    assert guess_power_profile(tmp_path) == "jetson_nano"
    reader = make_power_reader(root=tmp_path)
    assert isinstance(reader, EstimatedPower) and reader.profile.name.startswith("jetson_nano:")
    model.write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
    assert guess_power_profile(tmp_path) == "raspberry_pi_5"


def test_explicit_kind_says_why_it_cannot_work(tmp_path: Path, fixtures_dir: Path, no_vcgencmd: Path) -> None:
    with pytest.raises(PowerReaderError, match="ina3221"):
        make_power_reader("jetson", root=tmp_path)
    with pytest.raises(PowerReaderError, match="vcgencmd"):
        make_power_reader("rpi5", root=tmp_path)
    # explicitly asked for, a charging battery is given (flagged), not refused
    battery = make_power_reader("battery", root=fixtures_dir / "battery_charging")
    assert isinstance(battery, BatteryPower) and not battery.discharging
    estimate = make_power_reader("estimate", root=tmp_path, profile="jetson_nano:5w")
    assert isinstance(estimate, EstimatedPower) and estimate.profile.compute_w == 5.0
    with pytest.raises(ValueError, match="unknown power reader kind"):
        make_power_reader("nvml")


def test_importing_probes_nothing() -> None:
    """Importing the subpackage opens no /sys or /proc file and starts no process."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "seen = []\n"
        "def hook(event, args):\n"
        "    if event == 'open' and str(args[0]).startswith(('/sys', '/proc')):\n"
        "        seen.append(str(args[0]))\n"
        "    if event in ('subprocess.Popen', 'os.system', 'os.listdir', 'os.scandir'):\n"
        "        if event.startswith('subprocess') or str(args[0]).startswith(('/sys', '/proc')):\n"
        "            seen.append(event)\n"
        "sys.addaudithook(hook)\n"
        "import bottlefit_ros.energy\n"
        "print(seen)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
