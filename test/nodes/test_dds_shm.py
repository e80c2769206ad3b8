"""A participant killed with SIGKILL leaves its Fast DDS shared-memory segment in
/dev/shm (16 MiB of RAM with the package's profile); the next node to start
removes it and says so, and leaves the segments of living participants alone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bottlefit_ros.shm import SHM_DIR

pytestmark = pytest.mark.ros

PARTICIPANT = (
    'import rclpy, time\n'
    'rclpy.init()\n'
    'node = rclpy.create_node("shm_probe")\n'
    'print("up", flush=True)\n'
    'time.sleep(120)\n')


def _locked_segments(pid: int) -> list[Path]:
    """The Fast DDS segments whose ``_el`` lock ``pid`` holds (from /proc/locks)."""
    inodes = set()
    for line in Path('/proc/locks').read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == 'FLOCK' and fields[4] == str(pid):
            inodes.add(int(fields[5].rsplit(':', 1)[1]))
    found = []
    for lock in SHM_DIR.glob('fastdds_*_el'):
        try:
            if lock.stat().st_ino in inodes and not lock.name.startswith('fastdds_port'):
                found.append(SHM_DIR / lock.name[:-len('_el')])
        except FileNotFoundError:
            pass
    return found


def _participant() -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, '-c', PARTICIPANT], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == 'up'
    return proc


def test_a_starting_node_removes_what_a_killed_participant_left(nodes, wait_for) -> None:
    if os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp') != 'rmw_fastrtps_cpp':
        pytest.skip('Fast DDS shared memory only')
    living, killed = _participant(), _participant()
    try:
        kept, left = _locked_segments(living.pid), _locked_segments(killed.pid)
        assert kept and left, 'no Fast DDS segment found for the probe participants'
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert all(seg.exists() for seg in left)      # a killed owner cleans nothing
        held = sum(seg.stat().st_blocks * 512 for seg in left)
        old = time.time() - 60                        # past the age that guards creation
        for seg in left:
            os.utime(f'{seg}_el', (old, old))

        nodes.start('monitor_node')
        assert wait_for(lambda: 'stale Fast DDS shared-memory segment' in nodes.log(
            'monitor_node'), 30.0), nodes.logs()
        assert not any(seg.exists() or Path(f'{seg}_el').exists() for seg in left)
        assert all(seg.exists() for seg in kept), 'a living participant lost its segment'
        line = next(x for x in nodes.log('monitor_node').splitlines() if 'stale' in x)
        assert 'removed' in line and 'BOTTLEFIT_SHM_CLEANUP=0' in line
        assert held >= 2**20      # what was freed was real memory, not an empty file
    finally:
        for proc in (living, killed):
            proc.kill()
            proc.wait()
