"""Energy per frame: the result type and the estimate for robots without a sensor."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .profiles import PowerProfile

__all__ = ["FrameEnergy", "estimate_frame_energy"]


@dataclass(frozen=True, slots=True)
class FrameEnergy:
    """Energy spent by the robot over one frame (or one stage of it).

    ``measured`` is False for estimates; ``method`` says how it was obtained
    (``"estimate:jetson_nano:10w"``, ``"jetson-ina3221 @ 100 Hz"``). ``n_samples`` is the
    number of power samples that fell inside the window (None for estimates): 0 means
    the value was interpolated between samples outside it.
    """

    energy_j: float
    mean_power_w: float
    measured: bool
    method: str
    n_samples: int | None = None


def estimate_frame_energy(
    profile: PowerProfile, *, robot_compute_ms: float, payload_bytes: int, wait_ms: float
) -> FrameEnergy:
    """Estimate the robot's energy for one frame from a power profile.

    Model (all terms on the robot)::

        energy_j = compute_w * robot_compute_ms / 1e3          the network's head (or all of it)
                 + radio_tx_j_per_byte * payload_bytes           Wi-Fi transmit, above idle
                 + idle_w * wait_ms / 1e3                        waiting for the edge

    ``wait_ms`` is the end-to-end latency minus ``robot_compute_ms``: the robot idles
    while the payload travels and the edge runs the tail; the radio's extra draw while
    sending is the per-byte term. Local computing: the whole network in
    ``robot_compute_ms``, ``payload_bytes=0``, ``wait_ms=0``. Edge offloading: encoding
    time, the image's bytes, the rest as wait. ``mean_power_w`` is ``energy_j`` over
    ``robot_compute_ms + wait_ms`` (0 for a zero-length frame).
    """
    for arg, value in (("robot_compute_ms", robot_compute_ms), ("payload_bytes", payload_bytes), ("wait_ms", wait_ms)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{arg} must be a finite number >= 0, got {value!r}")
    energy_j = (
        profile.compute_w * robot_compute_ms / 1e3
        + profile.radio_tx_j_per_byte * payload_bytes
        + profile.idle_w * wait_ms / 1e3
    )
    duration_s = (robot_compute_ms + wait_ms) / 1e3
    mean_power_w = energy_j / duration_s if duration_s > 0 else 0.0
    return FrameEnergy(energy_j, mean_power_w, measured=False, method=f"estimate:{profile.name}")
