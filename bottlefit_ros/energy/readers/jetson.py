"""NVIDIA Jetson on-board INA3221 power monitor, in both sysfs layouts.

* JetPack 4.x (Nano, TX1/TX2, Xavier; L4T r32 and older), the ``ina3221x`` IIO driver::

      /sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:device*/rail_name_<N>       (N = 0, 1, 2)
      /sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:device*/in_power<N>_input   milliwatts

* JetPack 5/6 (Orin; L4T r35/r36), the mainline ``ina3221`` hwmon driver
  (Linux ``Documentation/hwmon/ina3221.rst``)::

      /sys/bus/i2c/drivers/ina3221/<bus-addr>/hwmon/hwmon*/in<N>_label   (N = 1, 2, 3)
      /sys/bus/i2c/drivers/ina3221/<bus-addr>/hwmon/hwmon*/in<N>_input   bus voltage, mV
      /sys/bus/i2c/drivers/ina3221/<bus-addr>/hwmon/hwmon*/curr<N>_input current, mA

  power = V * I per channel; channels labelled ``NC`` (not connected) or disabled are
  skipped, as is ``in7`` (the sum of shunt voltages).

Total: where a rail is labelled ``VDD_IN`` (Xavier NX, TX2, Orin Nano/NX) or
``POM_5V_IN`` (Nano) it measures the whole module input and *is* the total; the other
rails are sub-rails fed from it and are reported but not added (NVIDIA forum
"power-consumption-monitoring/73608", jetson_stats issue #51). Boards without such a rail
(AGX Xavier, AGX Orin) split the input over disjoint rails: the total is their sum.
The module monitor does not see the carrier board or USB peripherals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import PowerReaderError
from ..reader import ClockNs, PowerReader, PowerSample
from ._sysfs import read_number, read_text, reader_error, under_root

__all__ = ["IIO_DRIVER_DIR", "HWMON_DRIVER_DIR", "TOTAL_RAIL_NAMES", "JetsonPower"]

IIO_DRIVER_DIR = "/sys/bus/i2c/drivers/ina3221x"
"""JetPack 4.x driver directory (IIO layout, power in mW)."""
HWMON_DRIVER_DIR = "/sys/bus/i2c/drivers/ina3221"
"""JetPack 5/6 driver directory (hwmon layout, mV and mA)."""
TOTAL_RAIL_NAMES = ("VDD_IN", "POM_5V_IN")
"""Rail labels that measure the whole module input, in order of preference."""


@dataclass(frozen=True, slots=True)
class _Rail:
    name: str
    device: str  # "<bus-addr>", e.g. "6-0040"
    power_mw_path: Path | None = None  # IIO layout
    volt_mv_path: Path | None = None  # hwmon layout
    curr_ma_path: Path | None = None  # hwmon layout

    def files(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.power_mw_path, self.volt_mv_path, self.curr_ma_path) if p)

    def read_w(self) -> float:
        if self.power_mw_path is not None:
            return read_number(self.power_mw_path) / 1e3
        assert self.volt_mv_path is not None and self.curr_ma_path is not None
        return read_number(self.volt_mv_path) * read_number(self.curr_ma_path) / 1e6


def _iio_rails(root: Path) -> list[_Rail]:
    rails = []
    for device_dir in sorted(under_root(root, IIO_DRIVER_DIR).glob("*-*")):
        # L4T r32 names the IIO node "iio:device<k>", some older releases "iio_device".
        for iio_dir in sorted([*device_dir.glob("iio:device*"), *device_dir.glob("iio_device")]):
            for name_file in sorted(iio_dir.glob("rail_name_*")):
                channel = name_file.name.removeprefix("rail_name_")
                power = iio_dir / f"in_power{channel}_input"
                if not power.exists():
                    continue
                rails.append(_Rail(read_text(name_file), device_dir.name, power_mw_path=power))
    return rails


def _hwmon_rails(root: Path) -> list[_Rail]:
    rails = []
    for device_dir in sorted(under_root(root, HWMON_DRIVER_DIR).glob("*-*")):
        for hwmon_dir in sorted(device_dir.glob("hwmon/hwmon*")):
            for channel in (1, 2, 3):  # in4..in6 are shunt voltages, in7 their sum
                label_file = hwmon_dir / f"in{channel}_label"
                volt = hwmon_dir / f"in{channel}_input"
                curr = hwmon_dir / f"curr{channel}_input"
                if not (label_file.exists() and volt.exists() and curr.exists()):
                    continue
                label = read_text(label_file)
                enable = hwmon_dir / f"in{channel}_enable"
                if label.upper() == "NC" or (enable.exists() and read_text(enable) == "0"):
                    continue
                rails.append(_Rail(label, device_dir.name, volt_mv_path=volt, curr_ma_path=curr))
    return rails


class JetsonPower(PowerReader):
    """Jetson module power from its INA3221 monitor(s); see the module docstring.

    Raises :class:`PowerReaderError` if neither layout is present under ``root`` or a
    rail file cannot be read (on JetPack 5/6 the files are world-readable; on some
    images they are root-only).
    """

    name = "jetson-ina3221"
    measured = True

    def __init__(self, *, root: Path = Path("/"), clock_ns: ClockNs = time.monotonic_ns) -> None:
        super().__init__(clock_ns=clock_ns)
        self.root = Path(root)
        try:
            iio, hwmon = _iio_rails(self.root), _hwmon_rails(self.root)
        except OSError as exc:
            raise reader_error("jetson", Path(exc.filename or self.root), exc) from None
        if not iio and not hwmon:
            raise PowerReaderError(
                "jetson: no INA3221 power monitor found: neither "
                f"{under_root(self.root, IIO_DRIVER_DIR)}/*/iio:device*/rail_name_* (JetPack 4.x) "
                f"nor {under_root(self.root, HWMON_DRIVER_DIR)}/*/hwmon/hwmon*/in*_label "
                "(JetPack 5/6) exists"
            )
        self.layout = "iio (JetPack 4.x, in_power*_input mW)" if iio else "hwmon (JetPack 5/6, mV x mA)"
        self._rails = _unique_names(iio or hwmon)
        names = [name for name, _ in self._rails]
        self.total_rail: str | None = next((n for n in TOTAL_RAIL_NAMES if n in names), None)
        self.read()  # fail now, with the path, rather than in the sampler thread

    @property
    def rail_names(self) -> tuple[str, ...]:
        """Names of the rails read, in sysfs order."""
        return tuple(name for name, _ in self._rails)

    def read(self) -> PowerSample:
        rails_w = {}
        for name, rail in self._rails:
            try:
                rails_w[name] = rail.read_w()
            except OSError as exc:
                raise reader_error(f"jetson rail {name}", Path(exc.filename or rail.files()[0]), exc) from None
        stamp_ns = self._clock_ns()
        total = rails_w[self.total_rail] if self.total_rail else sum(rails_w.values())
        return PowerSample(stamp_ns=stamp_ns, power_w=total, rails_w=rails_w)

    def describe(self) -> str:
        files = ", ".join(str(p) for _, rail in self._rails for p in rail.files())
        if self.total_rail:
            others = [n for n in self.rail_names if n != self.total_rail]
            total = (
                f"total = {self.total_rail} (whole module input); sub-rails "
                f"{', '.join(others) or 'none'} are reported, not added"
            )
        else:
            total = f"no VDD_IN/POM_5V_IN rail: total = sum of {', '.join(self.rail_names)}"
        return (
            f"Jetson INA3221, {self.layout}; {total}. Module power only: carrier board "
            f"and USB peripherals are not measured. Files: {files}"
        )


def _unique_names(rails: list[_Rail]) -> list[tuple[str, _Rail]]:
    seen = [r.name for r in rails]
    return [(r.name if seen.count(r.name) == 1 else f"{r.name}@{r.device}", r) for r in rails]
