"""One huge image leaves no memory held in the camera (issue 9). rmw_fastrtps's
own reader history policy (PREALLOCATED_WITH_REALLOC) keeps the buffer of the
largest sample ever received, even one that never reached the callback (a
20000 x 20000 image held 1.2 GB); the package's Fast DDS profiles free it with
its sample. Both ways they reach a node are checked: tools/with_env.sh's
localhost profile, and, with no Fast DDS variable set (a robot, ros2 launch), the
node's own default. benchmarks/big_image_memory.py measures; 48 MB here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip('bottlefit_ros.msg', reason='needs the colcon-built package (`make test`)')

from bottlefit_ros.nodes._common import DDS_PROFILE_VARS, use_packaged_dds_profile

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / 'benchmarks' / 'big_image_memory.py'
SIDE = 4000                                  # 48 MB of rgb8


def test_packaged_profile_only_where_the_user_chose_none() -> None:
    env: dict[str, str] = {}
    path = use_packaged_dds_profile(env)
    assert path and path.endswith('config/fastdds_memory.xml') and Path(path).is_file()
    assert env == {'FASTDDS_DEFAULT_PROFILES_FILE': path, 'RMW_FASTRTPS_USE_QOS_FROM_XML': '1'}
    for var in DDS_PROFILE_VARS:
        env = {var: 'theirs'}
        assert use_packaged_dds_profile(env) is None and env == {var: 'theirs'}
    env = {'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}
    assert use_packaged_dds_profile(env) is None and len(env) == 1


@pytest.mark.parametrize('profile', ['with_env', 'node_default'])
def test_huge_image_leaves_no_memory_held(profile: str, domain_id: int) -> None:
    env = dict(os.environ)
    if profile == 'node_default':
        for var in DDS_PROFILE_VARS:
            env.pop(var, None)
    else:
        assert env.get('RMW_FASTRTPS_USE_QOS_FROM_XML') == '1', 'run under tools/with_env.sh'
    done = subprocess.run([sys.executable, '-P', str(SCRIPT), '--side', str(SIDE),
                           '--settle-s', '2'], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    r = json.loads(done.stdout[done.stdout.index('{'):])
    held = r['rss_mb_settled'] - r['rss_mb_before']
    assert r['camera_alive'] and r['camera_exit'] == 0, r
    # Without the profiles the camera keeps about the image's size (+41 MB for a
    # 27 MB image, +1,160 MB for 1.2 GB); with them at most the shared-memory
    # segment the localhost profile maps (16 MiB).
    assert held < r['bytes'] / 2**20 / 2, r
    # The image never reached the callback; it is counted from the driver's
    # sample numbers, and the frames after it were served.
    before, after = r['counters_before'], r['counters_after']
    assert int(after['frames_missed']) - int(before['frames_missed']) == 1, r
    assert int(after['frames_sent']) - int(before['frames_sent']) == 10, r
