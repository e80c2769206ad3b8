"""Background power sampling into a ring buffer, and energy per time window."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Literal

import numpy as np
import numpy.typing as npt

from .frame_energy import FrameEnergy
from .integrate import integrate_energy_j
from .reader import PowerReader, PowerSample

__all__ = ["PowerSampler"]

_log = logging.getLogger(__name__)


class PowerSampler:
    """Run ``reader`` on a background thread at ``rate_hz`` and integrate windows of it.

    Samples go into a ring buffer of ``capacity`` preallocated numpy arrays (the oldest
    are overwritten: 65536 samples are ~11 min at 100 Hz). :meth:`energy_between` gives
    the energy of any window still in the buffer, e.g. a frame from its capture stamp to
    its result's arrival, or a stage inside it, all on the ``time.monotonic_ns()`` clock.
    A failing ``read()`` is counted in :attr:`errors` (last one in :attr:`last_error`)
    and sampling goes on. All methods are thread-safe; :meth:`stop` joins the thread.
    """

    def __init__(self, reader: PowerReader, *, rate_hz: float = 100.0, capacity: int = 65536) -> None:
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz!r}")
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2, got {capacity!r}")
        self.reader = reader
        self.rate_hz = float(rate_hz)
        self.capacity = int(capacity)
        self._stamps_ns = np.zeros(self.capacity, dtype=np.int64)
        self._power_w = np.zeros(self.capacity, dtype=np.float64)
        self._written = 0  # total samples ever written; the next goes to _written % capacity
        self._cond = threading.Condition()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.last_error: Exception | None = None

    @property
    def method(self) -> str:
        """How the energies are obtained, e.g. ``"jetson-ina3221 @ 100 Hz"``."""
        return f"{self.reader.name} @ {self.rate_hz:g} Hz"

    @property
    def running(self) -> bool:
        """Whether the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the reader and the sampling thread (no-op if running)."""
        if self.running:
            return
        self.reader.start()
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name=f"PowerSampler[{self.reader.name}]", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, wait for it to end, stop the reader. Samples stay readable."""
        self._stop_event.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        self.reader.stop()

    def __enter__(self) -> PowerSampler:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        period_ns = round(1e9 / self.rate_hz)
        # First read one period after start(): readers that difference counters (RAPL)
        # would otherwise report a few microseconds' worth of counter granularity.
        next_ns = time.monotonic_ns() + period_ns
        while not self._stop_event.wait(max(next_ns - time.monotonic_ns(), 0) / 1e9):
            try:
                self._append(self.reader.read())
            except Exception as exc:  # a sensor hiccup must not end the sampling
                with self._cond:
                    self.errors += 1
                    self.last_error = exc
                if self.errors == 1:
                    _log.warning("power reader %s failed: %s", self.reader.name, exc)
            next_ns += period_ns
            now_ns = time.monotonic_ns()
            if next_ns < now_ns:  # fell behind (slow read): skip the missed ticks
                next_ns = now_ns

    def _append(self, sample: PowerSample) -> None:
        with self._cond:
            i = self._written % self.capacity
            self._stamps_ns[i] = sample.stamp_ns
            self._power_w[i] = sample.power_w
            self._written += 1
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return min(self._written, self.capacity)

    def samples(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Copies of the retained ``(stamps_ns, power_w)``, oldest first."""
        with self._cond:
            order = self._order(np.arange(min(self._written, self.capacity)))
            return self._stamps_ns[order].copy(), self._power_w[order].copy()

    def wait_for_stamp(self, stamp_ns: int, timeout_s: float) -> bool:
        """Block until a sample stamped at or after ``stamp_ns`` exists; False on timeout.

        Call it with a frame's end before :meth:`energy_between` so the window's end is
        covered by a sample instead of held from the last one.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not (self._written and self._newest_stamp() >= stamp_ns):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.running:
                    return False
                self._cond.wait(remaining)
            return True

    def energy_between(self, t0_ns: int, t1_ns: int) -> FrameEnergy:
        """Energy drawn over ``[t0_ns, t1_ns]`` (``time.monotonic_ns()`` stamps).

        Integrates with :func:`~bottlefit_ros.energy.integrate.integrate_energy_j` over the
        samples inside the window plus one on each side, so a window shorter than the
        sample period is interpolated; beyond the first/last sample the nearest value is
        held. Raises ``ValueError`` if there is no sample yet, or the window starts before
        the oldest sample still retained after the buffer wrapped (raise ``capacity``).
        """
        if t1_ns < t0_ns:
            raise ValueError(f"t1_ns ({t1_ns}) is before t0_ns ({t0_ns})")
        with self._cond:
            n = min(self._written, self.capacity)
            if n == 0:
                raise ValueError(f"no power samples yet from {self.reader.name} (is the sampler started?)")
            wrapped = self._written > self.capacity
            if wrapped and t0_ns < self._oldest_stamp():
                raise ValueError(
                    f"window starts at {t0_ns} ns, before the oldest retained sample "
                    f"({self._oldest_stamp()} ns): raise PowerSampler capacity ({self.capacity})"
                )
            lo = self._count_before(t0_ns, "left")  # samples with stamp < t0
            hi = self._count_before(t1_ns, "right")  # samples with stamp <= t1
            logical = np.arange(max(lo - 1, 0), min(hi + 1, n))
            order = self._order(logical)
            stamps, power = self._stamps_ns[order].copy(), self._power_w[order].copy()
        energy_j = integrate_energy_j(stamps, power, t0_ns, t1_ns)
        if t1_ns > t0_ns:
            mean_w = energy_j / ((t1_ns - t0_ns) * 1e-9)
        else:
            mean_w = float(np.interp(0.0, (stamps - t0_ns).astype(np.float64), power))
        return FrameEnergy(energy_j, mean_w, measured=self.reader.measured, method=self.method, n_samples=hi - lo)

    # --- ring-buffer indexing (callers hold the lock) ---------------------------------

    def _start_index(self) -> int:
        return self._written % self.capacity if self._written > self.capacity else 0

    def _order(self, logical: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return (self._start_index() + logical) % self.capacity

    def _oldest_stamp(self) -> int:
        return int(self._stamps_ns[self._start_index()])

    def _newest_stamp(self) -> int:
        return int(self._stamps_ns[(self._written - 1) % self.capacity])

    def _count_before(self, t_ns: int, side: Literal["left", "right"]) -> int:
        """Logical index where ``t_ns`` would go: samples are time-ordered in two runs."""
        n = min(self._written, self.capacity)
        start = self._start_index()
        older = self._stamps_ns[start:n] if start else self._stamps_ns[:n]
        newer = self._stamps_ns[:start]
        return int(np.searchsorted(older, t_ns, side=side)) + int(np.searchsorted(newer, t_ns, side=side))
