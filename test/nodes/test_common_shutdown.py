"""SIGINT (Ctrl-C) and SIGTERM (what ``ros2 launch`` escalates to) end every
node cleanly while frames flow: exit code 0, no traceback, and the last log
lines (the monitor's summary) still reach /rosout."""
from __future__ import annotations

import signal
import time

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NODES = ('edge_node', 'monitor_node', 'camera_node')


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_signal_ends_every_node_cleanly_while_frames_flow(signum, nodes, ros_node, wait_for):
    from bottlefit_ros.msg import Classification
    from bottlefit_ros.nodes._common import RESULT_QOS
    results: list[int] = []
    ros_node.node.create_subscription(Classification, 'classification',
                                      lambda m: results.append(m.seq), RESULT_QOS)
    procs = {'edge_node': nodes.start('edge_node', num_threads=1),
             'monitor_node': nodes.start('monitor_node'),
             'camera_node': nodes.start('camera_node', source='synthetic', rate_hz=100.0,
                                        start_when_subscribed=False, num_threads=1)}
    flowing = wait_for(lambda: len(results) >= 10, timeout_s=90, poll=ros_node.spin)
    assert flowing, 'no results before the signal:' + nodes.logs()

    sent = time.monotonic()
    for proc in procs.values():
        proc.send_signal(signum)
    for proc in procs.values():   # a second one while the first is being handled
        proc.send_signal(signum)
    assert wait_for(lambda: all(p.poll() is not None for p in procs.values()), timeout_s=20), \
        'a node did not exit:' + nodes.logs()
    print(f'all nodes exited {time.monotonic() - sent:.2f} s after {signum.name}')

    for name, proc in procs.items():
        log = nodes.log(name)
        assert proc.returncode == 0, nodes.logs()
        assert 'Traceback' not in log, nodes.logs()
        assert 'Failed to publish log message' not in log, nodes.logs()
    assert 'summary' in nodes.log('monitor_node')
