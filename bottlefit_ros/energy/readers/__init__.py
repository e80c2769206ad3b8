"""Power readers, one module per sensor family; see :mod:`bottlefit_ros.energy.factory`."""

from .battery import BatteryPower
from .estimate import EstimatedPower
from .hwmon import HwmonPower
from .jetson import JetsonPower
from .rapl import RaplPower
from .rpi import RpiPmicPower, parse_pmic_read_adc

__all__ = [
    "BatteryPower",
    "EstimatedPower",
    "HwmonPower",
    "JetsonPower",
    "RaplPower",
    "RpiPmicPower",
    "parse_pmic_read_adc",
]
