import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bottlefit_ros.energy import EstimatedPower, PowerReader, PowerReaderError, PowerSample, PowerSampler


class FilePower(PowerReader):
    """A test reader: the power is whatever milliwatts the fixture file holds."""

    name = "file-fixture"
    measured = True

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.stops = 0

    def read(self) -> PowerSample:
        stamp_ns = time.monotonic_ns()  # stamped before reading: later stamps see later writes
        return PowerSample(stamp_ns, int(self.path.read_text()) / 1e3)

    def stop(self) -> None:
        self.stops += 1
        super().stop()

    def describe(self) -> str:
        return f"milliwatts from {self.path}"


class BrokenPower(FilePower):
    name = "broken"

    def read(self) -> PowerSample:
        raise PowerReaderError("broken: the sensor went away")


def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@pytest.fixture
def power_file(tmp_path: Path) -> Path:
    path = tmp_path / "power_mw"
    path.write_text("2500\n")
    return path


def test_sampler_integrates_a_known_constant_power(power_file: Path) -> None:
    reader = FilePower(power_file)
    sampler = PowerSampler(reader, rate_hz=200)
    with sampler:
        t0 = time.monotonic_ns()
        t1 = t0 + 50_000_000
        assert sampler.wait_for_stamp(t1, timeout_s=5.0)
        frame = sampler.energy_between(t0, t1)
        stage = sampler.energy_between(t0 + 10_000_000, t0 + 11_000_000)  # shorter than a period
    assert frame.energy_j == pytest.approx(2.5 * 0.050)
    assert frame.mean_power_w == pytest.approx(2.5)
    assert frame.measured and frame.method == "file-fixture @ 200 Hz"
    assert frame.n_samples is not None and frame.n_samples >= 1
    assert stage.energy_j == pytest.approx(2.5 * 0.001)
    assert not sampler.running and reader.stops == 1  # stop() joined the thread, stopped the reader
    assert sampler.energy_between(t0, t1).energy_j == pytest.approx(frame.energy_j)  # still readable


def test_sampler_follows_a_power_step(power_file: Path) -> None:
    with PowerSampler(FilePower(power_file), rate_hz=200) as sampler:
        assert sampler.wait_for_stamp(time.monotonic_ns(), timeout_s=5.0)
        power_file.write_text("5000\n")
        t_write = time.monotonic_ns()

        def span_after_write_ns() -> int:
            after = sampler.samples()[0]
            after = after[after > t_write]
            return int(after[-1] - after[0]) if len(after) else 0
        wait_for(lambda: span_after_write_ns() >= 30_000_000)
        stamps, power = sampler.samples()
    assert np.all(np.diff(stamps) > 0)
    after = stamps > t_write
    assert np.all(power[after] == 5.0) and power[0] == 2.5
    t_b, t_c = int(stamps[after][0]), int(stamps[after][-1])
    assert t_c - t_b >= 30_000_000
    frame = sampler.energy_between(t_b, t_c)
    assert frame.energy_j == pytest.approx(5.0 * (t_c - t_b) * 1e-9)


def test_sampler_ring_buffer_wraps(power_file: Path) -> None:
    with PowerSampler(FilePower(power_file), rate_hz=1000, capacity=8) as sampler:
        t_first = time.monotonic_ns()
        wait_for(lambda: sampler.wait_for_stamp(t_first + 30_000_000, timeout_s=0.1))
    assert len(sampler) == 8
    stamps, _ = sampler.samples()
    assert np.all(np.diff(stamps) > 0) and stamps[0] > t_first
    assert sampler.energy_between(int(stamps[0]), int(stamps[-1])).energy_j == pytest.approx(
        2.5 * (stamps[-1] - stamps[0]) * 1e-9
    )
    with pytest.raises(ValueError, match="capacity"):
        sampler.energy_between(t_first, int(stamps[-1]))


def test_sampler_counts_read_errors_and_keeps_going(power_file: Path) -> None:
    sampler = PowerSampler(BrokenPower(power_file), rate_hz=500)
    with sampler:
        wait_for(lambda: sampler.errors >= 3)
        assert sampler.running
    assert isinstance(sampler.last_error, PowerReaderError)
    with pytest.raises(ValueError, match="no power samples"):
        sampler.energy_between(0, 1)


def test_sampler_over_the_estimate() -> None:
    reader = EstimatedPower("jetson_nano:5w")
    with PowerSampler(reader, rate_hz=500) as sampler:
        with reader.computing():
            t_enter = time.monotonic_ns()
            # at least 3 samples while computing, however the thread is scheduled
            wait_for(lambda: int((sampler.samples()[0] > t_enter).sum()) >= 3)
            stamps, _ = sampler.samples()
    inside = stamps[stamps > t_enter]
    # from the first sample taken while computing: an earlier window start would be
    # interpolated from the idle sample before it
    frame = sampler.energy_between(int(inside[0]), int(inside[-1]))
    assert frame.mean_power_w == pytest.approx(5.0)
    assert not frame.measured and frame.method == "estimate:jetson_nano:5w @ 500 Hz"


def test_sampler_arguments() -> None:
    reader = EstimatedPower("raspberry_pi_4")
    with pytest.raises(ValueError, match="rate_hz"):
        PowerSampler(reader, rate_hz=0)
    with pytest.raises(ValueError, match="capacity"):
        PowerSampler(reader, capacity=1)
