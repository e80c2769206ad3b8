"""A peer killed without a goodbye (SIGKILL) is unmatched within the packaged
Fast DDS profiles' 5 s participant lease (Fast DDS's default: 20 s): the camera
stops probing a dead edge that much sooner. Both ways a profile reaches a node
are checked: tools/with_env.sh's localhost profile, and the node's own default."""
from __future__ import annotations

import time

import pytest

from bottlefit_ros.nodes._common import DDS_PROFILE_VARS

pytestmark = [pytest.mark.ros, pytest.mark.slow]

LEASE_S = 5.0


@pytest.mark.parametrize('profile', ['with_env', 'node_default'])
def test_killed_peer_unmatched_within_the_lease(nodes, ros_node, wait_for, monkeypatch,
                                                profile: str) -> None:
    from bottlefit_ros.msg import Classification
    from bottlefit_ros.nodes._common import RESULT_QOS

    if profile == 'node_default':
        for var in DDS_PROFILE_VARS:
            monkeypatch.delenv(var, raising=False)
    pub = ros_node.node.create_publisher(Classification, 'classification', RESULT_QOS)
    monitor = nodes.start('monitor_node')
    assert wait_for(lambda: pub.get_subscription_count() >= 1, timeout_s=60,
                    poll=ros_node.spin), nodes.logs()
    monitor.kill()
    monitor.wait()
    killed = time.monotonic()
    assert wait_for(lambda: pub.get_subscription_count() == 0, timeout_s=3 * LEASE_S,
                    poll=ros_node.spin), nodes.logs()
    took = time.monotonic() - killed
    assert took <= LEASE_S + 1.0, took
    print(f'{profile}: unmatched {took:.2f} s after SIGKILL')
