"""A robot and an edge that run different models: the robot's monitor says why
no result comes (the edge's reason, from its /diagnostics), not only '0 frames'."""
from __future__ import annotations

import pytest

pytest.importorskip('bottlefit_ros.msg', reason='needs the colcon-built package (`make test`)')

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_monitor_reports_the_edges_rejection_reason(nodes, ros_node, diagnostics, wait_for):
    nodes.start('edge_node', bottleneck_channels=0, num_threads=1, diagnostics_period_s=0.3)
    nodes.start('monitor_node', summary_period_s=0.3)
    nodes.start('camera_node', source='folder', rate_hz=5.0, num_threads=1)   # the default C
    mon = diagnostics.setdefault('monitor_node', {})
    assert wait_for(lambda: int(mon.get('edge_rejected', 0)) >= 2, 120, poll=ros_node.spin), \
        nodes.logs()
    assert mon.get('results', '0') == '0'
    assert wait_for(lambda: 'edge_node rejected' in nodes.log('monitor_node'), 10), nodes.logs()
    line = next(ln for ln in nodes.log('monitor_node').splitlines() if 'edge_node rejected' in ln)
    assert 'mismatch' in line and 'split at' in line, line
