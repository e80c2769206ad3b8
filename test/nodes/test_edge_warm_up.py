"""A (re)started edge warms its model up before it serves: its first real frames
must not pay the backend's first-run set-up and miss the camera's deadline."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_edge_warms_up_before_it_subscribes_or_is_active(nodes, ros_node, wait_for):
    seen_before_warm: list[int] = []
    edge = nodes.start('edge_node', num_threads=1)

    def active() -> bool:
        log = nodes.log('edge_node')
        if 'warmed up in' not in log:       # nothing of the edge may be subscribed yet
            seen_before_warm.append(len(ros_node.node.get_subscriptions_info_by_topic(
                '/bottleneck')))
        return '] active' in log or ': active' in log
    assert wait_for(active, timeout_s=120, poll=ros_node.spin), nodes.logs()
    log = nodes.log('edge_node')
    lines = log.splitlines()
    warm = next(i for i, line in enumerate(lines) if 'warmed up in' in line)
    up = next(i for i, line in enumerate(lines) if line.endswith('active'))
    assert warm < up, log
    assert 'tail' in lines[warm] and 'whole' in lines[warm], lines[warm]
    assert not any(seen_before_warm), seen_before_warm
    assert edge.poll() is None
