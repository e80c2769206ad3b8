"""Stale Fast DDS shared-memory segments: find and remove what dead processes left.

Each Fast DDS participant that uses the shared-memory transport owns one segment,
``/dev/shm/fastdds_<16 hex digits>`` (16 MiB with the package's profiles), and
holds an exclusive ``flock`` on ``fastdds_<id>_el`` while it lives. A process that
exits cleanly removes both; one killed by a signal, the OOM killer or a power cut
leaves the segment behind, and ``/dev/shm`` is RAM: a node restarted after crashes
leaks 16 MiB each time until the machine has none left. A segment whose ``_el``
lock can be taken has no living owner; removing it is what Fast DDS's own
``fastdds shm clean`` does. Segments of living processes are never touched.

ROS-free: the nodes call :func:`remove_stale_segments` before they start rclpy.
"""
from __future__ import annotations

import fcntl
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

SHM_DIR = Path('/dev/shm')
# fastdds_<id>_el: the lock file of one participant's segment (ports, named
# fastdds_port<N>, are Fast DDS's own to recycle and are left alone).
_LOCK_NAME = re.compile(r'^fastdds_([0-9a-f]{16})_el$')
# A lock file younger than this may belong to a participant between creating the
# file and locking it: left for a later pass.
MIN_AGE_S = 10.0
# Opting out: set to "0" to keep every segment (for example, when another tool
# manages /dev/shm).
OPT_OUT_VAR = 'BOTTLEFIT_SHM_CLEANUP'


@dataclass(frozen=True)
class Cleanup:
    """What one pass removed: segments, and the bytes of memory they held."""

    segments: int = 0
    bytes_freed: int = 0

    def __str__(self) -> str:
        return (f'{self.segments} stale Fast DDS shared-memory segment(s), '
                f'{self.bytes_freed / 2**20:.1f} MiB')


def _held_bytes(path: Path) -> int:
    try:
        return path.stat().st_blocks * 512
    except OSError:
        return 0


def remove_stale_segments(directory: Path = SHM_DIR, *, min_age_s: float = MIN_AGE_S,
                          now: float | None = None) -> Cleanup:
    """Remove every Fast DDS segment in ``directory`` whose owner is dead (its
    ``_el`` lock is free) and whose lock file is at least ``min_age_s`` old.

    Safe beside running participants and beside another pass running at the same
    time; a file that cannot be read, locked or removed is skipped. Returns what
    was removed."""
    now = time.time() if now is None else now
    segments = freed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return Cleanup()
    for name in names:
        match = _LOCK_NAME.match(name)
        if match is None:
            continue
        lock_path = directory / name
        try:
            fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue            # gone meanwhile, or not ours to read
        try:
            if now - os.fstat(fd).st_mtime < min_age_s:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue        # a living participant holds it
            segment = directory / f'fastdds_{match.group(1)}'
            size = _held_bytes(segment)
            try:
                segment.unlink()
                segments += 1
                freed += size
            except FileNotFoundError:
                pass            # only the lock file was left
            except OSError:
                continue
            try:
                lock_path.unlink()
            except OSError:
                pass
        finally:
            os.close(fd)
    return Cleanup(segments, freed)


def cleanup_enabled(environ: dict[str, str] | None = None) -> bool:
    """False when the user set ``BOTTLEFIT_SHM_CLEANUP=0``."""
    env = os.environ if environ is None else environ
    return env.get(OPT_OUT_VAR, '1').strip() != '0'
