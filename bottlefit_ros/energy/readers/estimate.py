"""The fallback when the robot has no power sensor: a per-device power profile."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..frame_energy import FrameEnergy, estimate_frame_energy
from ..profiles import PowerProfile, load_power_profile
from ..reader import ClockNs, PowerReader, PowerSample

__all__ = ["EstimatedPower"]


class EstimatedPower(PowerReader):
    """Power from a :class:`~bottlefit_ros.energy.profiles.PowerProfile`, not measured.

    :meth:`read` returns ``compute_w`` while inside :meth:`computing` (wrap the robot's
    inference in it) and ``idle_w`` otherwise, so a
    :class:`~bottlefit_ros.energy.sampler.PowerSampler` over it still works (without the
    radio term); :meth:`frame_energy` applies the full per-frame model. ``reasons`` are
    why no sensor was used (from ``make_power_reader("auto")``) and show in
    :meth:`describe`.
    """

    measured = False

    def __init__(
        self,
        profile: PowerProfile | str,
        *,
        reasons: Sequence[str] = (),
        clock_ns: ClockNs = time.monotonic_ns,
    ) -> None:
        super().__init__(clock_ns=clock_ns)
        self.profile = load_power_profile(profile) if isinstance(profile, str) else profile
        self.name = f"estimate:{self.profile.name}"
        self.reasons = tuple(reasons)
        self._computing = 0
        self._lock = threading.Lock()

    @contextmanager
    def computing(self) -> Iterator[None]:
        """Mark the robot as running the network for the duration of the block."""
        with self._lock:
            self._computing += 1
        try:
            yield
        finally:
            with self._lock:
                self._computing -= 1

    def read(self) -> PowerSample:
        stamp_ns = self._clock_ns()  # stamp first: a later stamp never sees an earlier state
        power_w = self.profile.compute_w if self._computing else self.profile.idle_w
        return PowerSample(stamp_ns, power_w, {})

    def frame_energy(self, *, robot_compute_ms: float, payload_bytes: int, wait_ms: float) -> FrameEnergy:
        """:func:`~bottlefit_ros.energy.frame_energy.estimate_frame_energy` with this profile."""
        return estimate_frame_energy(
            self.profile, robot_compute_ms=robot_compute_ms, payload_bytes=payload_bytes, wait_ms=wait_ms
        )

    def describe(self) -> str:
        p = self.profile
        text = (
            f"ESTIMATE, not measured: power profile {p.name!r} ({p.description}): idle {p.idle_w:g} W, "
            f"compute {p.compute_w:g} W, Wi-Fi {p.radio_tx_j_per_byte * 1e6:.3g} uJ/byte"
            f"{' (rough figures)' if p.rough else ''}. Sources: "
            + "; ".join(f"{k}: {v}" for k, v in p.source.items())
        )
        if self.reasons:
            text += ". No sensor used: " + "; ".join(self.reasons)
        return text
