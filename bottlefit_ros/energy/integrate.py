"""Energy from a power time series, clipped to a time window."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["integrate_energy_j"]


def integrate_energy_j(
    stamps_ns: Sequence[int] | npt.NDArray[np.int64],
    power_w: Sequence[float] | npt.NDArray[np.float64],
    t0_ns: int,
    t1_ns: int,
) -> float:
    """Integrate power over ``[t0_ns, t1_ns]`` (trapezoidal rule), in joules.

    Power is taken as piecewise linear between samples, and the integral of that is exact:
    the window's ends are inserted as knots with linearly interpolated values, then the
    trapezoidal rule runs over ``t0``, the samples strictly inside, ``t1``. Where the
    samples do not cover an end of the window (the window starts before the first sample
    or ends after the last) the nearest sample's power is held constant out to that end
    (zero-order hold), so a single sample integrates as a constant. NaN samples are
    dropped. ``stamps_ns`` must be non-decreasing; ``t1_ns < t0_ns`` or no valid sample
    raises ``ValueError``; ``t1_ns == t0_ns`` gives 0.
    """
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    power = np.asarray(power_w, dtype=np.float64)
    if stamps.shape != power.shape or stamps.ndim != 1:
        raise ValueError(f"stamps_ns and power_w must be 1-D of equal length, got {stamps.shape} and {power.shape}")
    if t1_ns < t0_ns:
        raise ValueError(f"t1_ns ({t1_ns}) is before t0_ns ({t0_ns})")
    valid = np.isfinite(power)
    stamps, power = stamps[valid], power[valid]
    if stamps.size == 0:
        raise ValueError("no power samples to integrate")
    if np.any(np.diff(stamps) < 0):
        raise ValueError("stamps_ns must be non-decreasing")
    if t1_ns == t0_ns:
        return 0.0
    # Times relative to t0 keep float64 exact to the nanosecond over days.
    rel = (stamps - t0_ns).astype(np.float64)
    span = float(t1_ns - t0_ns)
    inside = (rel > 0.0) & (rel < span)
    knots = np.concatenate(([0.0], rel[inside], [span]))
    values = np.interp(knots, rel, power)  # holds the end values outside the samples
    return float(np.sum((values[1:] + values[:-1]) * np.diff(knots)) * 0.5 * 1e-9)
