"""Battery discharge power through the Linux power_supply class.

Files (Linux ``Documentation/ABI/testing/sysfs-class-power``; units from
``include/linux/power_supply.h``: uV, uA, uW)::

    /sys/class/power_supply/<name>/type          "Battery" (chargers say "Mains", "USB")
    /sys/class/power_supply/<name>/scope         "Device" for a mouse's or pen's battery: skipped
    /sys/class/power_supply/<name>/status        "Discharging", "Charging", "Full", "Not charging"
    /sys/class/power_supply/<name>/power_now     microwatts (not every driver has it)
    /sys/class/power_supply/<name>/current_now   microamps (negative while discharging on
    /sys/class/power_supply/<name>/voltage_now   microvolts  some drivers: the sign is dropped)

power = power_now, else |current_now| * voltage_now. Only while the status is
``Discharging`` does this measure what the robot draws; charging (or full on mains) it
measures the charger's current into the battery, and :attr:`BatteryPower.discharging`
turns False. Fuel gauges often average over seconds: fine for runs, coarse for frames.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import PowerReaderError
from ..reader import ClockNs, PowerReader, PowerSample
from ._sysfs import read_number, read_text, reader_error, under_root

__all__ = ["POWER_SUPPLY_DIR", "BatteryPower", "find_batteries"]

POWER_SUPPLY_DIR = "/sys/class/power_supply"


def find_batteries(root: Path = Path("/")) -> list[Path]:
    """System batteries (``type`` Battery, ``scope`` not Device) that report power or current."""
    found = []
    for directory in sorted(under_root(root, POWER_SUPPLY_DIR).glob("*")):
        try:
            if read_text(directory / "type") != "Battery":
                continue
            scope = directory / "scope"
            if scope.exists() and read_text(scope) == "Device":
                continue
        except OSError:
            continue
        has_power = (directory / "power_now").exists()
        has_current = (directory / "current_now").exists() and (directory / "voltage_now").exists()
        if has_power or has_current:
            found.append(directory)
    return found


class BatteryPower(PowerReader):
    """Power drawn from the robot's battery; see the module docstring.

    ``supply`` picks a battery by name (``BAT0``); by default the first one found.
    """

    measured = True

    def __init__(
        self,
        *,
        root: Path = Path("/"),
        supply: str | None = None,
        clock_ns: ClockNs = time.monotonic_ns,
    ) -> None:
        super().__init__(clock_ns=clock_ns)
        self.root = Path(root)
        batteries = find_batteries(self.root)
        if supply is not None:
            batteries = [b for b in batteries if b.name == supply]
        if not batteries:
            which = f"named {supply!r} " if supply else ""
            raise PowerReaderError(
                f"battery: no battery {which}under {under_root(self.root, POWER_SUPPLY_DIR)} "
                "with type 'Battery' and power_now or current_now + voltage_now"
            )
        self.directory = batteries[0]
        self.name = f"battery-{self.directory.name}"
        self.status = "Unknown"
        self.read()

    @property
    def discharging(self) -> bool:
        """Whether the last read saw ``Discharging``: only then is the reading the robot's draw."""
        return self.status == "Discharging"

    def read(self) -> PowerSample:
        d = self.directory
        try:
            self.status = read_text(d / "status") if (d / "status").exists() else "Unknown"
            if (d / "power_now").exists():
                power_w = abs(read_number(d / "power_now")) / 1e6
            else:
                power_w = abs(read_number(d / "current_now")) * read_number(d / "voltage_now") / 1e12
        except OSError as exc:
            raise reader_error(self.name, Path(exc.filename or d), exc) from None
        return PowerSample(self._clock_ns(), power_w, {self.directory.name: power_w})

    def describe(self) -> str:
        source = "power_now" if (self.directory / "power_now").exists() else "|current_now| x voltage_now"
        state = (
            "discharging: this is the robot's draw from the battery"
            if self.discharging
            else f"status {self.status!r}: NOT the robot's draw (a charger feeds the robot; the "
            "reading is the charge into the battery)"
        )
        return f"Battery {self.directory} ({source}); {state}"
