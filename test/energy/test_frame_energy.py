import pytest

from bottlefit_ros.energy import EstimatedPower, PowerProfile, estimate_frame_energy

PROFILE = PowerProfile("test", "a test board", idle_w=2.0, compute_w=10.0, radio_tx_j_per_byte=1e-6)


def test_split_computing_frame() -> None:
    frame = estimate_frame_energy(PROFILE, robot_compute_ms=50.0, payload_bytes=10_000, wait_ms=100.0)
    assert frame.energy_j == pytest.approx(10.0 * 0.050 + 1e-6 * 10_000 + 2.0 * 0.100)  # 0.71 J
    assert frame.mean_power_w == pytest.approx(0.71 / 0.150)
    assert not frame.measured and frame.method == "estimate:test" and frame.n_samples is None


def test_local_computing_and_zero_length_frames() -> None:
    local = estimate_frame_energy(PROFILE, robot_compute_ms=200.0, payload_bytes=0, wait_ms=0.0)
    assert local.energy_j == pytest.approx(2.0) and local.mean_power_w == pytest.approx(10.0)
    empty = estimate_frame_energy(PROFILE, robot_compute_ms=0.0, payload_bytes=0, wait_ms=0.0)
    assert empty.energy_j == 0.0 and empty.mean_power_w == 0.0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="wait_ms"):
        estimate_frame_energy(PROFILE, robot_compute_ms=1.0, payload_bytes=0, wait_ms=-1.0)
    with pytest.raises(ValueError, match="robot_compute_ms"):
        estimate_frame_energy(PROFILE, robot_compute_ms=float("nan"), payload_bytes=0, wait_ms=0.0)


def test_estimated_power_reader() -> None:
    reader = EstimatedPower(PROFILE, reasons=("jetson: not here",))
    assert reader.read().power_w == 2.0
    with reader.computing():
        assert reader.read().power_w == 10.0
    assert reader.read().power_w == 2.0
    assert not reader.measured and reader.name == "estimate:test"
    assert "ESTIMATE" in reader.describe() and "jetson: not here" in reader.describe()
    assert reader.frame_energy(robot_compute_ms=50.0, payload_bytes=10_000, wait_ms=100.0).energy_j == pytest.approx(0.71)
