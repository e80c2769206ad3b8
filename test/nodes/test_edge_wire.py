"""The edge node with real processes: bottleneck frames checked (a JPEG in a
Bottleneck, the old offload path, is an unknown codec), no NaN published, no
forged or giant log lines, frames lost before the callback counted, and the
classification durability overridable. (Offload frames: test_edge_compressed.py.)"""
from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip('bottlefit_ros.msg', reason='needs the colcon-built package (`make test`)')

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from bottlefit_ros.conversions import bottleneck_msg
from bottlefit_ros.msg import Bottleneck, Classification
from bottlefit_ros.runtime import ModelSpec, RobotRunner, StageTimes
from bottlefit_ros.sources import FolderSource

pytestmark = [pytest.mark.ros, pytest.mark.slow]

FORGED = '\n[FATAL] [1.0] [edge_node]: forged line'


def test_edge_checks_strings_and_values_and_counts_missed_frames(nodes, ros_node, diagnostics,
                                                                 wait_for):
    rgb = FolderSource(loop=False).read()
    split_robot = RobotRunner(ModelSpec(), mode='split')
    offload_robot = RobotRunner(ModelSpec(), mode='offload')
    split_enc = split_robot.process(rgb).encoded
    jpeg = offload_robot.process(rgb).jpeg
    # What offload mode sent before CompressedImage: a JPEG in a Bottleneck.
    old_offload = dataclasses.replace(split_enc, codec='jpeg', dtype='uint8',
                                      shape=(*rgb.shape[:2], 3), raw_size=rgb.size, scale=0.0,
                                      zero_point=0, payload=jpeg)
    info = split_robot.info
    now = ros_node.node.get_clock().now().to_msg

    def frame(enc, seq: int, **fields) -> Bottleneck:
        args = dict(stamp=now(), frame_id='cam', seq=seq, model=info.model, split=info.split,
                    head_fingerprint=split_robot.head_fingerprint, timings=StageTimes())
        return bottleneck_msg(enc, **{**args, **fields})

    edge = nodes.start('edge_node', num_threads=1, diagnostics_period_s=0.2,
                       **{'qos_overrides./classification.publisher.durability': 'volatile'})
    pub = ros_node.node.create_publisher(
        Bottleneck, 'bottleneck', QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    results: dict[int, Classification] = {}
    ros_node.node.create_subscription(
        Classification, 'classification', lambda m: results.__setitem__(m.seq, m),
        QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    diag = diagnostics.setdefault('edge_node', {})
    assert wait_for(lambda: pub.get_subscription_count() > 0 and 'frames_in' in diag,
                    timeout_s=90, poll=ros_node.spin), nodes.logs()

    # qos_overrides may change the results' durability (transient-local by default).
    [pub_info] = ros_node.node.get_publishers_info_by_topic('/classification')
    assert pub_info.qos_profile.durability == DurabilityPolicy.VOLATILE

    cases = [  # (message, counter or None for served)
        (frame(split_enc, 0), None),
        (frame(split_enc, 1), None),
        (frame(split_enc, 2), None),
        (frame(old_offload, 3), 'rejected_unknown_codec'),
        (frame(old_offload, 4, split='', head_fingerprint=''), 'rejected_mismatch'),
        (frame(dataclasses.replace(split_enc, dtype='uint8'), 5), 'rejected_malformed'),
        (frame(split_enc, 6, head_fingerprint='0' * 16), 'rejected_mismatch'),
        (frame(dataclasses.replace(split_enc, scale=3.4e38), 7), 'rejected_malformed'),
        (frame(split_enc, 8, frame_id='cam' + FORGED, model='other' + FORGED),
         'rejected_mismatch'),
        (frame(split_enc, 9, model='m' * 2**20), 'rejected_malformed'),
        (frame(split_enc, 10, frame_id='f' * 2**20), 'rejected_malformed'),
        (frame(split_enc, 11), None),
    ]
    # One at a time (the edge keeps only the newest frame waiting); rejections are
    # logged at most once a second: space out the ones whose log line is checked below.
    logged = {8, 9, 10}
    for i, (msg, _) in enumerate(cases):
        assert wait_for(lambda: int(diag.get('frames_in', 0)) == i, timeout_s=60,
                        poll=ros_node.spin), (diag, nodes.logs())
        if msg.seq in logged:
            wait_for(lambda: False, timeout_s=1.1, poll=ros_node.spin)
        pub.publish(msg)
        ros_node.spin(0.05)
    served = [m.seq for m, c in cases if c is None]
    assert wait_for(lambda: set(served) <= set(results) and
                    int(diag.get('frames_in', 0)) == len(cases), timeout_s=60,
                    poll=ros_node.spin), (sorted(results), diag, nodes.logs())
    assert set(results) == set(served)
    assert {r.mode for r in results.values()} == {'split'}
    for counter in ('rejected_malformed', 'rejected_mismatch', 'rejected_unknown_codec'):
        assert int(diag[counter]) == sum(c == counter for _, c in cases), (counter, diag,
                                                                          nodes.logs())

    log = nodes.log('edge_node')
    assert not [line for line in log.splitlines() if line.startswith(('[FATAL]', '[ERROR]'))]
    assert '\\n[FATAL]' in log                  # shown, escaped, on the rejecting line
    assert max(len(line) for line in log.splitlines()) < 2000

    # A burst the edge cannot take in time: its queue keeps the newest frame, the
    # ones replaced before the callback are counted (reliable: replaced, not
    # missed), so every frame sent is accounted for and the last one is served.
    burst = 40
    for i in range(burst):
        pub.publish(frame(split_enc, 100 + i))
    sent = len(cases) + burst
    assert wait_for(lambda: 100 + burst - 1 in results and
                    int(diag.get('frames_in', 0)) + int(diag.get('dropped_replaced', 0)) == sent,
                    timeout_s=90, poll=ros_node.spin), (diag, nodes.logs())
    replaced = int(diag['dropped_replaced'])
    assert replaced > 0 and int(diag['frames_missed']) == 0, diag
    assert int(diag['frames_served']) == len(served) + burst - replaced
    assert edge.poll() is None
