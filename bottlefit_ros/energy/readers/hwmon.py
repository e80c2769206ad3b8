"""External shunt monitors (TI INA219/INA226/...) through the Linux hwmon class.

Driver ``ina2xx`` (Linux ``Documentation/hwmon/ina2xx.rst``; ``ina238`` has its own
driver with the same units), units from ``Documentation/hwmon/sysfs-interface.rst``::

    /sys/class/hwmon/hwmon*/name           "ina219", "ina226", ...
    /sys/class/hwmon/hwmon*/power1_input   microwatts
    /sys/class/hwmon/hwmon*/in1_input      bus voltage, millivolts  } fallback when
    /sys/class/hwmon/hwmon*/curr1_input    current, milliamps       } power1 is absent
    /sys/class/hwmon/hwmon*/label          optional, from the device tree

Such a monitor measures whatever branch it is wired into, typically the robot's main
supply: the driver needs the right ``shunt_resistor`` (micro-ohms) for the numbers to
mean anything. With several matching devices the total is their sum: pass ``device=``
(``"hwmon3"``) when they are nested (one measuring a branch of another).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import PowerReaderError
from ..reader import ClockNs, PowerReader, PowerSample
from ._sysfs import read_number, read_text, reader_error, under_root

__all__ = ["HWMON_CLASS_DIR", "SHUNT_MONITOR_NAMES", "HwmonPower"]

HWMON_CLASS_DIR = "/sys/class/hwmon"
SHUNT_MONITOR_NAMES = (
    "ina209", "ina219", "ina220", "ina226", "ina230", "ina231", "ina234", "ina237", "ina238",
    "ina260", "sy24655",
)
"""hwmon ``name`` values of single-channel shunt monitors (the Jetson's ina3221 is
handled by :class:`~bottlefit_ros.energy.readers.jetson.JetsonPower`)."""


@dataclass(frozen=True, slots=True)
class _Device:
    label: str
    directory: Path
    power_uw_path: Path | None
    volt_mv_path: Path | None
    curr_ma_path: Path | None

    def read_w(self) -> float:
        if self.power_uw_path is not None:
            return read_number(self.power_uw_path) / 1e6
        assert self.volt_mv_path is not None and self.curr_ma_path is not None
        return read_number(self.volt_mv_path) * abs(read_number(self.curr_ma_path)) / 1e6

    def files(self) -> str:
        if self.power_uw_path is not None:
            return str(self.power_uw_path)
        return f"{self.volt_mv_path} x {self.curr_ma_path}"


def _hwmon_index(path: Path) -> tuple[int, str]:
    suffix = path.name.removeprefix("hwmon")
    return (int(suffix), "") if suffix.isdigit() else (-1, path.name)


class HwmonPower(PowerReader):
    """Power from hwmon shunt monitors; see the module docstring."""

    name = "hwmon"
    measured = True

    def __init__(
        self,
        *,
        root: Path = Path("/"),
        names: tuple[str, ...] = SHUNT_MONITOR_NAMES,
        device: str | None = None,
        clock_ns: ClockNs = time.monotonic_ns,
    ) -> None:
        super().__init__(clock_ns=clock_ns)
        self.root = Path(root)
        base = under_root(self.root, HWMON_CLASS_DIR)
        devices = []
        try:
            for directory in sorted(base.glob("hwmon*"), key=_hwmon_index):
                if device is not None and directory.name != device:
                    continue
                if not (directory / "name").exists() or read_text(directory / "name") not in names:
                    continue
                chip = read_text(directory / "name")
                label_file = directory / "label"
                label = read_text(label_file) if label_file.exists() else f"{chip}@{directory.name}"
                power = directory / "power1_input"
                volt, curr = directory / "in1_input", directory / "curr1_input"
                if power.exists():
                    devices.append(_Device(label, directory, power, None, None))
                elif volt.exists() and curr.exists():
                    devices.append(_Device(label, directory, None, volt, curr))
        except OSError as exc:
            raise reader_error("hwmon", Path(exc.filename or base), exc) from None
        if not devices:
            wanted = f"device {device!r}" if device else "a device"
            raise PowerReaderError(
                f"hwmon: no shunt monitor found: {wanted} under {base}/hwmon*/ with name in "
                f"{', '.join(names)} and power1_input (or in1_input + curr1_input)"
            )
        self._devices = devices
        chips = sorted({read_text(d.directory / "name") for d in devices})
        self.name = f"hwmon-{'+'.join(chips)}"
        self.read()

    def read(self) -> PowerSample:
        rails_w = {}
        for dev in self._devices:
            try:
                rails_w[dev.label] = dev.read_w()
            except OSError as exc:
                raise reader_error(f"hwmon {dev.label}", Path(exc.filename or dev.directory), exc) from None
        return PowerSample(self._clock_ns(), sum(rails_w.values()), rails_w)

    def describe(self) -> str:
        parts = "; ".join(f"{d.label}: {d.files()}" for d in self._devices)
        total = "the sum of" if len(self._devices) > 1 else "read from"
        return f"hwmon shunt monitor(s), total = {total} {parts} (what is measured depends on the wiring)"
