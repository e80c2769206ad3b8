"""Raspberry Pi 5 PMIC rails through ``vcgencmd pmic_read_adc``.

The firmware prints one line per ADC channel, currents first, then voltages::

      VDD_CORE_A current(7)=0.76071400A
      VDD_CORE_V volt(15)=0.72000000V
         EXT5V_V volt(24)=5.12000000V

power = sum over rails of V * I, for the rails that have both a ``_V`` and an ``_A``
line (``EXT5V_V`` and ``BATT_V`` have no current and are skipped). These rails sit
*behind* the PMIC's regulators: the sum leaves out conversion losses and everything fed
straight from 5 V (USB devices, HATs, NVMe), so it reads below the USB-C input power. One
published fit against a USB-C meter on one board is ``input_w = 1.1451 * pmic_w + 0.5879``
(github.com/jfikar/RPi5-power); pass it as ``gain``/``offset_w`` only after checking it on
your board. The defaults (1, 0) report the raw PMIC sum.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Sequence

from ..errors import PowerReaderError
from ..reader import ClockNs, PowerReader, PowerSample

__all__ = ["DEFAULT_COMMAND", "RpiPmicPower", "parse_pmic_read_adc"]

DEFAULT_COMMAND = ("vcgencmd", "pmic_read_adc")
_LINE_RE = re.compile(
    r"^\s*(?P<rail>\S+)_(?P<kind>[AV])\s+(?:current|volt)\(\d+\)=(?P<value>[-+0-9.eE]+)[AV]\s*$"
)


def parse_pmic_read_adc(text: str) -> dict[str, float]:
    """Per-rail power in watts (V * I) from ``vcgencmd pmic_read_adc`` output.

    Rails without both a current and a voltage line are left out; lines that do not
    match (blank lines, ``error=...``) are ignored. Returns ``{}`` if nothing matched.
    """
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        match = _LINE_RE.match(line)
        if match is None:
            continue
        target = amps if match["kind"] == "A" else volts
        target[match["rail"]] = float(match["value"])
    return {rail: volts[rail] * amps[rail] for rail in amps if rail in volts}


class RpiPmicPower(PowerReader):
    """Raspberry Pi 5 power from its PMIC ADC; see the module docstring.

    ``command`` is run (no shell) on every :meth:`read`, which costs a process start
    (a few ms): sample at 10-20 Hz, not 100. Raises :class:`PowerReaderError` if the
    command is missing, fails, or prints no rail with both current and voltage (a
    Pi 4's firmware, for one, has no ``pmic_read_adc``).
    """

    name = "rpi5-pmic"
    measured = True

    def __init__(
        self,
        command: Sequence[str] = DEFAULT_COMMAND,
        *,
        gain: float = 1.0,
        offset_w: float = 0.0,
        timeout_s: float = 2.0,
        clock_ns: ClockNs = time.monotonic_ns,
    ) -> None:
        super().__init__(clock_ns=clock_ns)
        self.command = tuple(command)
        if not self.command:
            raise ValueError("command must not be empty")
        self.gain, self.offset_w, self.timeout_s = float(gain), float(offset_w), float(timeout_s)
        executable = shutil.which(self.command[0])
        if executable is None:
            raise PowerReaderError(f"rpi5: {self.command[0]!r} not found on PATH (not a Raspberry Pi OS?)")
        self.read()  # fail now if the firmware has no pmic_read_adc

    def _run(self) -> str:
        try:
            done = subprocess.run(
                self.command, capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PowerReaderError(f"rpi5: {' '.join(self.command)} failed: {exc}") from None
        if done.returncode != 0:
            raise PowerReaderError(
                f"rpi5: {' '.join(self.command)} exited with {done.returncode}: {done.stderr.strip()}"
            )
        return done.stdout

    def read(self) -> PowerSample:
        output = self._run()
        stamp_ns = self._clock_ns()
        rails_w = parse_pmic_read_adc(output)
        if not rails_w:
            first = output.strip().splitlines()[:1]
            raise PowerReaderError(
                f"rpi5: {' '.join(self.command)} printed no rail with both current and voltage "
                f"(first line: {first[0] if first else 'empty'!r}); pmic_read_adc needs a Raspberry Pi 5"
            )
        return PowerSample(stamp_ns, self.gain * sum(rails_w.values()) + self.offset_w, rails_w)

    def describe(self) -> str:
        calibration = (
            "raw PMIC sum (reads below the USB-C input: conversion losses, USB and HAT loads are not seen)"
            if (self.gain, self.offset_w) == (1.0, 0.0)
            else f"calibrated as {self.gain:g} * PMIC sum + {self.offset_w:g} W"
        )
        return (
            f"Raspberry Pi 5 PMIC via `{' '.join(self.command)}`: total = sum of V*I over "
            f"the rails with both readings, {calibration}"
        )
