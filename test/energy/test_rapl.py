import os
import pathlib
import stat
from pathlib import Path

import pytest

from bottlefit_ros.energy import PowerReaderError, RaplPower

MAX_RANGE_UJ = 262143328850


def _write(root: Path, zone: str, energy_uj: int) -> None:
    (root / "sys/class/powercap" / zone / "energy_uj").write_text(f"{energy_uj}\n")


def _energy(root: Path, zone: str) -> int:
    return int((root / "sys/class/powercap" / zone / "energy_uj").read_text())


def test_rapl_server_sums_packages_and_reports_dram_as_rails(copy_fixture, clock) -> None:
    root = copy_fixture("intel_rapl_server")
    reader = RaplPower(root=root, clock_ns=clock)
    assert reader.rail_names == ("package-0", "package-0/dram", "package-1", "package-1/dram")
    reader.start()
    t_start = clock()
    for zone, joules in (("intel-rapl:0", 5.0), ("intel-rapl:0:0", 1.0), ("intel-rapl:1", 3.0), ("intel-rapl:1:0", 0.5)):
        _write(root, zone, _energy(root, zone) + round(joules * 1e6))
    clock.advance(1.0)
    sample = reader.read()
    assert sample.power_w == pytest.approx(8.0)  # package-0 + package-1, DRAM not added
    assert sample.rails_w == pytest.approx({"package-0": 5.0, "package-0/dram": 1.0, "package-1": 3.0, "package-1/dram": 0.5})
    assert sample.stamp_ns == t_start + 500_000_000  # mean over the interval: midpoint stamp
    reader.stop()


def test_rapl_laptop_does_not_add_psys_or_mmio(copy_fixture, clock) -> None:
    root = copy_fixture("intel_rapl_laptop")
    reader = RaplPower(root=root, clock_ns=clock)
    assert reader.rail_names == ("package-0", "package-0/core", "package-0/uncore", "psys")
    reader.start()
    _write(root, "intel-rapl:0", _energy(root, "intel-rapl:0") + 6_000_000)
    _write(root, "intel-rapl:0:0", _energy(root, "intel-rapl:0:0") + 4_000_000)
    _write(root, "intel-rapl:1", _energy(root, "intel-rapl:1") + 15_000_000)
    clock.advance(2.0)
    sample = reader.read()
    assert sample.power_w == pytest.approx(3.0)
    assert sample.rails_w["psys"] == pytest.approx(7.5)
    assert sample.rails_w["package-0/core"] == pytest.approx(2.0)
    assert "psys covers the packages" in reader.describe()


def test_rapl_counter_wrap_around_is_corrected(copy_fixture, clock) -> None:
    root = copy_fixture("intel_rapl_server")
    _write(root, "intel-rapl:0", MAX_RANGE_UJ - 1_000_000)  # 1 J before the wrap
    reader = RaplPower(root=root, clock_ns=clock)
    reader.start()
    _write(root, "intel-rapl:0", 500_000)  # wrapped: 1 J + 0.5 J later
    clock.advance(0.5)
    sample = reader.read()
    assert sample.rails_w["package-0"] == pytest.approx(1.5 / 0.5)
    assert sample.rails_w["package-1"] == pytest.approx(0.0)
    # and the next interval, without a wrap, is plain again
    _write(root, "intel-rapl:0", 2_500_000)
    clock.advance(1.0)
    assert reader.read().rails_w["package-0"] == pytest.approx(2.0)


def test_rapl_unreadable_energy_explains_platypus_and_the_fix(copy_fixture, monkeypatch) -> None:
    root = copy_fixture("intel_rapl_server")
    target = root / "sys/class/powercap/intel-rapl:0/energy_uj"
    target.chmod(0)
    if os.access(target, os.R_OK):
        # Running as root: mode 000 does not stop root from reading, so simulate the
        # kernel's root-only file by making Path.read_text refuse this one file.
        real_read_text = pathlib.Path.read_text

        def read_text(self: pathlib.Path, *args, **kwargs) -> str:
            if self == target:
                raise PermissionError(13, "Permission denied", str(self))
            return real_read_text(self, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, "read_text", read_text)
    try:
        with pytest.raises(PowerReaderError) as info:
            RaplPower(root=root)
    finally:
        target.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    message = str(info.value)
    assert str(target) in message and "CVE-2020-8694" in message
    assert "sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj" in message
    assert "udev" in message and "setcap" in message and "run as root" in message


def test_rapl_missing(tmp_path: Path) -> None:
    with pytest.raises(PowerReaderError, match="no RAPL zone"):
        RaplPower(root=tmp_path)
