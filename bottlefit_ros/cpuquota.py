"""A robot slower than its edge, on one machine: a CPU quota for robot processes.

A Jetson Nano or a Raspberry Pi beside a GPU box is several times slower than
the edge; two cores of one x86 machine are not. :class:`CpuQuota` makes a
control group whose processes together get ``fraction`` of one core (Linux CFS
bandwidth control: cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, or
cgroup v2 ``cpu.max``), and :meth:`CpuQuota.wrap` turns a command into one that
joins the group before it ``exec``\\ s, so the process and its children are
throttled from their first instruction. Needs root. ROS-free; used by
``benchmarks/field_rehearsal.py``::

    with CpuQuota(0.25) as robot:              # 25 % of one core
        subprocess.Popen(robot.wrap(['python3', 'robot.py']))
"""
from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Sequence

__all__ = ['CpuQuota', 'CpuQuotaError', 'cpu_quota_available']

V1_ROOT = Path('/sys/fs/cgroup/cpu')
V2_ROOT = Path('/sys/fs/cgroup')
_counter = itertools.count()


class CpuQuotaError(RuntimeError):
    """The quota could not be set up (not root, no CPU controller, ...)."""


def _layout() -> tuple[str, Path]:
    """``('v1', root)`` or ``('v2', root)`` of the CPU controller, or raise."""
    if (V1_ROOT / 'cpu.cfs_quota_us').exists():
        return 'v1', V1_ROOT
    controllers = V2_ROOT / 'cgroup.controllers'
    if controllers.exists() and 'cpu' in controllers.read_text().split():
        return 'v2', V2_ROOT
    raise CpuQuotaError('no cgroup CPU controller (neither /sys/fs/cgroup/cpu nor a cgroup v2 '
                        '"cpu" controller)')


def cpu_quota_available() -> str:
    """Empty when :class:`CpuQuota` can work here, else why not."""
    if os.geteuid() != 0:
        return 'needs root'
    try:
        _layout()
    except CpuQuotaError as exc:
        return str(exc)
    return ''


class CpuQuota:
    """A control group limited to ``fraction`` of one core (e.g. 0.25), per
    ``period_us``; removed on :meth:`close` (``with`` does it).

    The period is short (10 ms) so that the quota makes every frame slower, as a
    slower CPU does: with 100 ms, a 20 ms inference at 2 Hz would run at full speed
    in its period's budget and only a busier robot would notice the limit.
    """

    def __init__(self, fraction: float, *, period_us: int = 10_000,
                 name: str = 'bottlefit_robot') -> None:
        if not 0.01 <= fraction <= 64:
            raise ValueError(f'fraction must be within [0.01, 64] cores, got {fraction}')
        if not 1_000 <= period_us <= 1_000_000:
            raise ValueError(f'period_us must be within [1000, 1000000], got {period_us}')
        self.fraction = float(fraction)
        self.period_us = int(period_us)
        self.quota_us = max(1_000, round(self.fraction * self.period_us))
        self.version, root = _layout()
        self.path = root / f'{name}_{os.getpid()}_{next(_counter)}'
        try:
            self.path.mkdir()
            if self.version == 'v1':
                (self.path / 'cpu.cfs_period_us').write_text(str(self.period_us))
                (self.path / 'cpu.cfs_quota_us').write_text(str(self.quota_us))
            else:
                (self.path / 'cpu.max').write_text(f'{self.quota_us} {self.period_us}')
        except OSError as exc:
            self.close()
            raise CpuQuotaError(f'cannot set up {self.path}: {exc}') from None

    def describe(self) -> str:
        """One line for a run's output."""
        return (f'robot throttled to {self.fraction * 100:.0f} % of one core '
                f'(cgroup {self.version} CPU quota {self.quota_us} us per {self.period_us} us)')

    def wrap(self, cmd: Sequence[str]) -> list[str]:
        """``cmd`` as a command that joins this group, then ``exec``\\ s ``cmd``."""
        procs = self.path / 'cgroup.procs'
        return ['sh', '-c', f'echo $$ > {procs} && exec "$@"', 'sh', *cmd]

    def pids(self) -> list[int]:
        """Processes in the group now."""
        try:
            return [int(p) for p in (self.path / 'cgroup.procs').read_text().split()]
        except OSError:
            return []

    def close(self, timeout_s: float = 5.0) -> None:
        """Remove the group (once its processes have exited; waits up to ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while self.path.exists():
            try:
                self.path.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)

    def __enter__(self) -> 'CpuQuota':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
