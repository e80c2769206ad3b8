"""Energy per frame from whatever the robot has: a sampled power sensor, or the
per-device estimate. What the monitor node calls, once per delivered frame."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .factory import make_power_reader
from .frame_energy import FrameEnergy
from .reader import PowerReader
from .readers.estimate import EstimatedPower
from .sampler import PowerSampler

__all__ = ["FrameEnergyMeter", "FrameEnergyReport"]


@dataclass(frozen=True, slots=True)
class FrameEnergyReport:
    """A frame's energy, and the part spent in the robot's compute stages."""

    total: FrameEnergy
    compute_j: float


class FrameEnergyMeter:
    """Attribute the robot's energy to frames and to their robot-side stages.

    With a sensor, power is sampled at ``rate_hz`` on a background thread and a
    frame's energy is the integral over its window (capture to result
    arrival); its robot compute stages are taken to be the window's first
    ``robot_compute_ms``. Without one (``kind="estimate"``, or "auto" finding
    none), :func:`~bottlefit_ros.energy.frame_energy.estimate_frame_energy`.
    Frames that overlap in time (pipelined) share the power drawn in the overlap.
    """

    def __init__(self, kind: str = "auto", *, profile: str | None = None,
                 rate_hz: float = 100.0, root: Path = Path("/")) -> None:
        self.reader: PowerReader = make_power_reader(kind, profile=profile, root=root)
        self.measured = self.reader.measured
        self._sampler: PowerSampler | None = None
        if self.measured:
            self._sampler = PowerSampler(self.reader, rate_hz=rate_hz)
            self._period_s = 1.0 / rate_hz

    def describe(self) -> str:
        """One line: which sensor and at what rate, or which profile."""
        if self._sampler is not None:
            return f"measured: {self._sampler.method}"
        return (f"ESTIMATED from power profile {self.reader.profile.name!r} "
                "(no power sensor used)")

    def details(self) -> str:
        """The reader's full description: files, rails, or why no sensor was used."""
        return self.reader.describe()

    def start(self) -> None:
        if self._sampler is not None:
            self._sampler.start()

    def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()

    def frame(self, *, e2e_ms: float, robot_compute_ms: float, payload_bytes: int,
              arrival_monotonic_ns: int | None = None) -> FrameEnergyReport:
        """Energy of a frame whose result arrived now (or at ``arrival_monotonic_ns``,
        a ``time.monotonic_ns()`` stamp) after ``e2e_ms``."""
        compute_ms = min(robot_compute_ms, e2e_ms)
        if self._sampler is None:
            assert isinstance(self.reader, EstimatedPower)
            total = self.reader.frame_energy(robot_compute_ms=compute_ms,
                                             payload_bytes=payload_bytes,
                                             wait_ms=max(0.0, e2e_ms - compute_ms))
            return FrameEnergyReport(total, self.reader.profile.compute_w * compute_ms / 1e3)
        t1 = arrival_monotonic_ns if arrival_monotonic_ns is not None else time.monotonic_ns()
        t0 = t1 - int(e2e_ms * 1e6)
        self._sampler.wait_for_stamp(t1, timeout_s=2 * self._period_s)
        total = self._sampler.energy_between(t0, t1)
        compute = self._sampler.energy_between(t0, t0 + int(compute_ms * 1e6))
        return FrameEnergyReport(total, compute.energy_j)
