"""Pick a power reader by kind, or probe for the best one ("auto")."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from .errors import PowerReaderError
from .reader import PowerReader
from .readers.battery import BatteryPower
from .readers.estimate import EstimatedPower
from .readers.hwmon import HwmonPower
from .readers.jetson import JetsonPower
from .readers.rapl import RaplPower
from .readers.rpi import DEFAULT_COMMAND, RpiPmicPower
from .readers._sysfs import read_text, under_root

__all__ = ["AUTO_ORDER", "READER_KINDS", "guess_power_profile", "make_power_reader"]

_log = logging.getLogger(__name__)

AUTO_ORDER = ("jetson", "rpi5", "hwmon", "rapl", "battery")
"""What ``"auto"`` tries, in order, before falling back to ``"estimate"``."""
READER_KINDS = ("auto", *AUTO_ORDER, "estimate")

_MODEL_FILES = ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model")
_MODEL_PROFILES = (  # substring of the device-tree model -> packaged profile; first match wins
    ("Orin Nano", "jetson_orin_nano"),
    ("Jetson Nano", "jetson_nano"),
    ("Raspberry Pi 5", "raspberry_pi_5"),
    ("Raspberry Pi 4", "raspberry_pi_4"),
)
_DEFAULT_PROFILE = "generic_x86_laptop"


def guess_power_profile(root: Path = Path("/")) -> str:
    """A packaged profile name from the device-tree model, else ``generic_x86_laptop``."""
    for absolute in _MODEL_FILES:
        path = under_root(Path(root), absolute)
        try:
            model = read_text(path)
        except OSError:
            continue
        for needle, profile in _MODEL_PROFILES:
            if needle in model:
                return profile
    return _DEFAULT_PROFILE


def make_power_reader(kind: str = "auto", *, root: Path = Path("/"), profile: str | None = None) -> PowerReader:
    """Return a power reader (not yet started).

    ``kind`` is one of :data:`READER_KINDS`. ``"auto"`` probes, when called (never at
    import), in this order and returns the first that works:

    1. ``"jetson"``  on-board INA3221 (both JetPack layouts);
    2. ``"rpi5"``    PMIC via ``vcgencmd pmic_read_adc``, only if ``vcgencmd`` is on PATH;
    3. ``"hwmon"``   external INA219/INA226-class shunt monitor;
    4. ``"rapl"``    CPU package energy (x86; root-only since CVE-2020-8694);
    5. ``"battery"`` only while it is discharging (charging, it does not see the robot's draw);
    6. ``"estimate"`` from ``profile``, else a profile guessed from the device-tree model.

    The estimate's ``describe()`` lists why each sensor was skipped. An explicit kind
    raises :class:`PowerReaderError` saying why it cannot work here. ``root`` is the
    filesystem root the sysfs paths are looked up under (tests point it at a fixture).
    """
    root = Path(root)
    if kind not in READER_KINDS:
        raise ValueError(f"unknown power reader kind {kind!r}; kinds: {', '.join(READER_KINDS)}")
    if kind == "estimate":
        return EstimatedPower(profile or guess_power_profile(root))
    if kind != "auto":
        return _make(kind, root)
    reasons = []
    for candidate in AUTO_ORDER:
        try:
            reader = _make(candidate, root, auto=True)
        except PowerReaderError as exc:
            reasons.append(str(exc))
            _log.debug("power reader %s skipped: %s", candidate, exc)
            continue
        _log.info("power reader: %s", reader.describe())
        return reader
    chosen = profile or guess_power_profile(root)
    _log.info("no power sensor found, estimating from profile %s", chosen)
    return EstimatedPower(chosen, reasons=reasons)


def _make(kind: str, root: Path, *, auto: bool = False) -> PowerReader:
    if kind == "jetson":
        return JetsonPower(root=root)
    if kind == "rpi5":
        if shutil.which(DEFAULT_COMMAND[0]) is None:
            raise PowerReaderError(f"rpi5: {DEFAULT_COMMAND[0]!r} not found on PATH")
        return RpiPmicPower()
    if kind == "hwmon":
        return HwmonPower(root=root)
    if kind == "rapl":
        return RaplPower(root=root)
    if kind == "battery":
        battery = BatteryPower(root=root)
        if auto and not battery.discharging:
            raise PowerReaderError(
                f"battery: {battery.directory.name} is {battery.status!r}, not discharging: "
                "it does not measure the robot's draw now"
            )
        return battery
    raise AssertionError(kind)
