"""FrameEnergyMeter: the sensor path integrates sampled power over a frame's
window; the estimate path applies the profile model."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from bottlefit_ros.energy import FrameEnergyMeter, load_power_profile

FIXTURES = Path(__file__).parent / 'fixtures'


def test_estimate_path_uses_the_profile_model():
    meter = FrameEnergyMeter('estimate', profile='raspberry_pi_4')
    p = load_power_profile('raspberry_pi_4')
    r = meter.frame(e2e_ms=100.0, robot_compute_ms=30.0, payload_bytes=10_000)
    expected = p.compute_w * 0.030 + p.radio_tx_j_per_byte * 10_000 + p.idle_w * 0.070
    assert r.total.energy_j == pytest.approx(expected)
    assert r.compute_j == pytest.approx(p.compute_w * 0.030)
    assert not r.total.measured and 'ESTIMATED' in meter.describe()


def test_sensor_path_integrates_constant_power_over_the_window():
    tree = FIXTURES / 'jetson_orin_nano_jp6'
    meter = FrameEnergyMeter('jetson', rate_hz=200.0, root=tree)
    assert meter.measured
    power_w = meter.reader.read().power_w          # the fixture's constant total
    meter.start()
    try:
        time.sleep(0.15)
        r = meter.frame(e2e_ms=100.0, robot_compute_ms=25.0, payload_bytes=1000)
    finally:
        meter.stop()
    assert r.total.measured and '200 Hz' in r.total.method
    assert r.total.energy_j == pytest.approx(power_w * 0.100, rel=1e-6)
    assert r.compute_j == pytest.approx(power_w * 0.025, rel=1e-6)


def test_compute_longer_than_the_frame_is_clipped():
    meter = FrameEnergyMeter('estimate', profile='jetson_nano')
    r = meter.frame(e2e_ms=10.0, robot_compute_ms=50.0, payload_bytes=0)
    assert r.compute_j == pytest.approx(r.total.energy_j)
