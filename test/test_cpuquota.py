"""The robot's CPU quota: processes join the group from their first instruction and
the kernel throttles them (needs root and a cgroup CPU controller)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bottlefit_ros.cpuquota import CpuQuota, cpu_quota_available

WHY = cpu_quota_available()
pytestmark = pytest.mark.skipif(bool(WHY), reason=f'CPU quota unavailable here: {WHY}')

BUSY = 'import time\nt = time.monotonic()\nwhile time.monotonic() - t < 0.6: pass\n'


def _throttled_periods(quota: CpuQuota) -> int:
    stat = dict(line.split() for line in (quota.path / 'cpu.stat').read_text().splitlines())
    return int(stat['nr_throttled'])


def test_wrapped_process_runs_in_the_group_and_is_throttled():
    with CpuQuota(0.2, period_us=50_000) as quota:
        assert quota.quota_us == 10_000
        assert 'robot throttled to 20 % of one core' in quota.describe()
        where = subprocess.run(quota.wrap(['cat', '/proc/self/cgroup']), capture_output=True,
                               text=True, check=True).stdout
        assert quota.path.name in where
        subprocess.run(quota.wrap([sys.executable, '-c', BUSY]), check=True, timeout=60)
        assert _throttled_periods(quota) > 0
        path = quota.path
    assert not path.exists()


def test_unthrottled_group_is_not_throttled_by_a_short_job():
    with CpuQuota(2.0) as quota:           # two cores' worth: one busy thread never hits it
        subprocess.run(quota.wrap([sys.executable, '-c', BUSY]), check=True, timeout=60)
        assert _throttled_periods(quota) == 0


def test_bad_fraction_refused():
    with pytest.raises(ValueError, match='fraction'):
        CpuQuota(0.0)
