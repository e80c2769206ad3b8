import numpy as np
import pytest

from bottlefit_ros.energy import integrate_energy_j

S = 1_000_000_000  # ns per second


def test_constant_power() -> None:
    stamps = np.arange(0, 2 * S + 1, S // 10)
    assert integrate_energy_j(stamps, np.full(stamps.size, 5.0), 0, 2 * S) == pytest.approx(10.0)


def test_constant_power_at_monotonic_clock_magnitudes() -> None:
    base = 10**15  # ~11.6 days of uptime, in ns
    stamps = base + np.arange(0, S + 1, S // 100)
    energy = integrate_energy_j(stamps, np.full(stamps.size, 3.0), base + S // 4, base + S // 2)
    assert energy == pytest.approx(0.75, rel=1e-12)


def test_ramp_is_exact_with_window_ends_between_samples() -> None:
    stamps = np.arange(0, 10 * S + 1, S // 10)
    power = stamps / S  # p(t) = t watts
    # integral of t from 2.05 s to 4.0 s = (4.0^2 - 2.05^2) / 2
    energy = integrate_energy_j(stamps, power, 2_050_000_000, 4 * S)
    assert energy == pytest.approx((16.0 - 2.05**2) / 2, rel=1e-12)


def test_window_between_two_samples_interpolates() -> None:
    # 0 W at 0 s, 10 W at 10 s: over [4 s, 6 s] the line averages 5 W
    assert integrate_energy_j([0, 10 * S], [0.0, 10.0], 4 * S, 6 * S) == pytest.approx(10.0)


def test_samples_not_covering_the_window_hold_the_nearest_value() -> None:
    # 2 W at 1 s, 4 W at 2 s, window [0 s, 3 s]: 2 J held + 3 J ramp + 4 J held
    assert integrate_energy_j([S, 2 * S], [2.0, 4.0], 0, 3 * S) == pytest.approx(9.0)
    # a single sample is a constant
    assert integrate_energy_j([5 * S], [1.5], 0, 2 * S) == pytest.approx(3.0)
    # a window entirely after the samples holds the last one
    assert integrate_energy_j([0, S], [1.0, 2.0], 3 * S, 4 * S) == pytest.approx(2.0)


def test_nan_samples_are_dropped() -> None:
    assert integrate_energy_j([0, S, 2 * S], [1.0, np.nan, 1.0], 0, 2 * S) == pytest.approx(2.0)


def test_invalid_input() -> None:
    assert integrate_energy_j([0, S], [1.0, 1.0], S // 2, S // 2) == 0.0
    with pytest.raises(ValueError, match="before t0"):
        integrate_energy_j([0, S], [1.0, 1.0], S, 0)
    with pytest.raises(ValueError, match="no power samples"):
        integrate_energy_j([], [], 0, S)
    with pytest.raises(ValueError, match="non-decreasing"):
        integrate_energy_j([S, 0], [1.0, 1.0], 0, S)
    with pytest.raises(ValueError, match="equal length"):
        integrate_energy_j([0, S], [1.0], 0, S)
