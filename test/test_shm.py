"""bottlefit_ros.shm on a directory of its own: a segment is removed only when
its lock file is free (owner dead) and old enough; anything else stays."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bottlefit_ros.shm import Cleanup, cleanup_enabled, remove_stale_segments

LIVE, DEAD, YOUNG, ORPHAN_LOCK = ('0123456789abcdef', 'fedcba9876543210',
                                  'aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb')


def _segment(directory: Path, seg_id: str, size: int = 65536, age_s: float = 60.0) -> Path:
    seg = directory / f'fastdds_{seg_id}'
    seg.write_bytes(b'\1' * size)
    lock = directory / f'fastdds_{seg_id}_el'
    lock.touch()
    old = time.time() - age_s
    os.utime(lock, (old, old))
    return seg


def test_only_dead_old_segments_go(tmp_path: Path) -> None:
    live = _segment(tmp_path, LIVE)
    dead = _segment(tmp_path, DEAD, size=3 * 65536)
    young = _segment(tmp_path, YOUNG, age_s=1.0)
    orphan_lock = tmp_path / f'fastdds_{ORPHAN_LOCK}_el'
    orphan_lock.touch()
    os.utime(orphan_lock, (time.time() - 60, time.time() - 60))
    others = [tmp_path / n for n in ('fastdds_port7411', 'fastdds_port7411_el',
                                     'sem.fastdds_port7411_mutex', 'fastdds_xyz_el',
                                     'something_else')]
    for path in others:
        path.touch()
    # A living owner: another process holds the exclusive flock, as Fast DDS does.
    holder = subprocess.Popen(
        [sys.executable, '-c',
         'import fcntl, sys, time\n'
         f'f = open({str(live) + "_el"!r})\n'
         'fcntl.flock(f, fcntl.LOCK_EX)\n'
         'print("locked", flush=True)\n'
         'time.sleep(60)\n'], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        done = remove_stale_segments(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert done.segments == 1
    assert done.bytes_freed >= 3 * 65536
    assert not dead.exists() and not Path(f'{dead}_el').exists()
    assert not orphan_lock.exists()           # a lock without its segment goes too
    assert live.exists() and Path(f'{live}_el').exists()
    assert young.exists() and Path(f'{young}_el').exists()
    assert all(p.exists() for p in others)
    # Once its owner is gone, the living one is stale too; the young one once old.
    assert remove_stale_segments(tmp_path).segments == 1
    assert not live.exists()
    assert remove_stale_segments(tmp_path, min_age_s=0.0).segments == 1
    assert not young.exists()
    assert remove_stale_segments(tmp_path) == Cleanup()


def test_missing_directory_and_opt_out() -> None:
    assert remove_stale_segments(Path('/nonexistent/shm')) == Cleanup()
    assert cleanup_enabled({})
    assert cleanup_enabled({'BOTTLEFIT_SHM_CLEANUP': '1'})
    assert not cleanup_enabled({'BOTTLEFIT_SHM_CLEANUP': '0'})
    assert str(Cleanup(2, 3 * 2**20)) == '2 stale Fast DDS shared-memory segment(s), 3.0 MiB'
