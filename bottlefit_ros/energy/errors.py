"""Errors of the energy subpackage."""

from __future__ import annotations

__all__ = ["EnergyError", "PowerProfileError", "PowerReaderError"]


class EnergyError(Exception):
    """Base class of the errors raised by :mod:`bottlefit_ros.energy`."""


class PowerReaderError(EnergyError):
    """A power reader cannot work here; the message says why (missing path, permission...)."""


class PowerProfileError(EnergyError):
    """A power profile is unknown or malformed."""
