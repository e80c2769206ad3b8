"""The power reader interface: ``start()`` / ``read()`` / ``stop()``.

Modelled on ros2_benchmark's ``utils/profiler.py``: a reader is cheap to construct, finds
its files when it is constructed (never at import time) and raises
:class:`~bottlefit_ros.energy.errors.PowerReaderError` there if it cannot work.
A reader is used by one thread at a time; :class:`~bottlefit_ros.energy.sampler.PowerSampler`
owns it while it runs.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["ClockNs", "PowerReader", "PowerSample"]

ClockNs = Callable[[], int]
"""A steady clock in nanoseconds, ``time.monotonic_ns`` unless a test injects another."""


@dataclass(frozen=True, slots=True)
class PowerSample:
    """One power reading.

    ``stamp_ns`` is on the ``time.monotonic_ns()`` clock (the instant the reading
    stands for), ``power_w`` the total the reader reports, ``rails_w`` the per-rail
    values where the sensor has several (they need not add up to ``power_w``: a total
    rail and its sub-rails are all listed, see each reader's ``describe()``).
    """

    stamp_ns: int
    power_w: float
    rails_w: Mapping[str, float] = field(default_factory=dict)


class PowerReader(ABC):
    """Base class of every power reader.

    Subclasses set :attr:`name` and :attr:`measured` and implement :meth:`read` and
    :meth:`describe`. ``start``/``stop`` are no-ops unless the reader keeps state
    (RAPL keeps the previous energy counter). ``read()`` starts the reader if needed.
    """

    name: str = "power"
    measured: bool = True

    def __init__(self, *, clock_ns: ClockNs = time.monotonic_ns) -> None:
        self._clock_ns = clock_ns
        self._started = False

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was called and :meth:`stop` not since."""
        return self._started

    def start(self) -> None:
        """Prepare for reading (idempotent)."""
        self._started = True

    @abstractmethod
    def read(self) -> PowerSample:
        """Return the current power."""

    def stop(self) -> None:
        """Release what :meth:`start` took (idempotent)."""
        self._started = False

    @abstractmethod
    def describe(self) -> str:
        """Say what is read: which files or command, which rails make the total, caveats."""

    def __enter__(self) -> PowerReader:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} measured={self.measured}>"
