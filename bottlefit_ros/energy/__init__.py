"""Energy on the robot: power readers, power profiles and energy per frame (ROS-free).

Typical use in the monitor::

    reader = make_power_reader("auto")           # probes now, not at import
    with PowerSampler(reader, rate_hz=100) as sampler:
        ...
        frame = sampler.energy_between(capture_stamp_ns, result_stamp_ns)

and, where no sensor exists, ``estimate_frame_energy(load_power_profile("jetson_nano"), ...)``.
All stamps are ``time.monotonic_ns()``.
"""

from .errors import EnergyError, PowerProfileError, PowerReaderError
from .factory import AUTO_ORDER, READER_KINDS, guess_power_profile, make_power_reader
from .frame_energy import FrameEnergy, estimate_frame_energy
from .integrate import integrate_energy_j
from .meter import FrameEnergyMeter, FrameEnergyReport
from .profiles import PowerProfile, load_power_profile, power_profile_names
from .reader import PowerReader, PowerSample
from .readers import (
    BatteryPower,
    EstimatedPower,
    HwmonPower,
    JetsonPower,
    RaplPower,
    RpiPmicPower,
    parse_pmic_read_adc,
)
from .sampler import PowerSampler

__all__ = [
    "FrameEnergyMeter",
    "FrameEnergyReport",
    "AUTO_ORDER",
    "READER_KINDS",
    "BatteryPower",
    "EnergyError",
    "EstimatedPower",
    "FrameEnergy",
    "HwmonPower",
    "JetsonPower",
    "PowerProfile",
    "PowerProfileError",
    "PowerReader",
    "PowerReaderError",
    "PowerSample",
    "PowerSampler",
    "RaplPower",
    "RpiPmicPower",
    "estimate_frame_energy",
    "guess_power_profile",
    "integrate_energy_j",
    "load_power_profile",
    "make_power_reader",
    "parse_pmic_read_adc",
    "power_profile_names",
]
