"""The edge node rejects and counts every malformed or mismatched frame, by
reason, while valid frames sent between them keep being served."""
from __future__ import annotations

import math

import pytest

pytest.importorskip('bottlefit_ros.msg', reason='needs the colcon-built package (`make test`)')

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from bottlefit_ros.conversions import bottleneck_msg
from bottlefit_ros.msg import Bottleneck, Classification
from bottlefit_ros.runtime import EdgeRunner, ModelSpec, RobotRunner
from bottlefit_ros.sources import FolderSource

pytestmark = [pytest.mark.ros, pytest.mark.slow]

MAX_PAYLOAD = 1 << 20   # the edge's max_payload_bytes in this test


def _bad_frames(valid: Bottleneck) -> list[tuple[str, str, Bottleneck]]:
    """(name, expected counter, message) for each malformed case."""
    def variant(**fields) -> Bottleneck:
        m = Bottleneck()
        for f in m.get_fields_and_field_types():
            setattr(m, f, getattr(valid, f))
        for k, v in fields.items():
            setattr(m, k, v)
        return m
    n = len(valid.payload)
    c, h, w = valid.shape[1:]
    return [
        ('truncated payload', 'rejected_malformed', variant(payload=valid.payload[: n // 2])),
        # same element count, so it decodes, but not the head's output shape
        ('wrong shape', 'rejected_malformed', variant(shape=[1, c * h, w])),
        ('shape vs raw_size', 'rejected_malformed', variant(shape=[1, c, h, w + 1])),
        ('wrong dtype', 'rejected_malformed', variant(dtype='float64')),
        ('unknown codec', 'rejected_unknown_codec', variant(codec='lz4')),
        ('non-finite scale', 'rejected_malformed', variant(scale=math.nan)),
        ('infinite scale', 'rejected_malformed', variant(scale=math.inf)),
        ('declared size over limit', 'rejected_too_large',
         variant(shape=[1, 1024, 1024, 64], raw_size=1024 * 1024 * 64)),
        ('wrong fingerprint', 'rejected_mismatch', variant(head_fingerprint='0' * 16)),
        ('other model', 'rejected_mismatch', variant(model='resnet18')),
        ('other split', 'rejected_mismatch', variant(split='blocks.2')),
    ]


def test_malformed_frames_rejected_counted_and_valid_frames_served(nodes, ros_node, diagnostics,
                                                                 wait_for):
    spec = ModelSpec()
    robot = RobotRunner(spec, mode='split')
    rgb = FolderSource(loop=False).read()
    expected_label = EdgeRunner(spec).process(robot.process(rgb).encoded).result.labels[0]

    def valid(seq: int) -> Bottleneck:
        out = robot.process(rgb)
        return bottleneck_msg(out.encoded, stamp=ros_node.node.get_clock().now().to_msg(),
                              frame_id='test', seq=seq, model=robot.info.model,
                              split=robot.info.split, head_fingerprint=robot.head_fingerprint,
                              timings=out.timings)

    # Frames come in pairs faster than the edge serves them: a queue deep enough for
    # all (qos_overrides), so none is replaced by a newer one (test_newest_frame_wins).
    edge = nodes.start('edge_node', max_payload_bytes=MAX_PAYLOAD, num_threads=1,
                       diagnostics_period_s=0.2,
                       **{'qos_overrides./bottleneck.subscription.depth': 100})
    qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    pub = ros_node.node.create_publisher(Bottleneck, 'bottleneck', qos)
    results: dict[int, Classification] = {}
    ros_node.node.create_subscription(Classification, 'classification',
                                      lambda m: results.__setitem__(m.seq, m), qos)
    diag = diagnostics.setdefault('edge_node', {})

    assert wait_for(lambda: pub.get_subscription_count() > 0 and 'frames_in' in diag,
                    timeout_s=90, poll=ros_node.spin), 'edge node did not come up:\n' + nodes.log('edge_node')

    bad = _bad_frames(valid(0))
    seq, valid_seqs, bad_seqs = 0, [], []
    expected_counts: dict[str, int] = {}
    for _name, counter, msg in bad:
        good = valid(seq)
        pub.publish(good)
        valid_seqs.append(seq)
        seq += 1
        msg.seq = seq
        pub.publish(msg)
        bad_seqs.append(seq)
        expected_counts[counter] = expected_counts.get(counter, 0) + 1
        seq += 1
        for _ in range(4):
            ros_node.spin(0.02)
    pub.publish(valid(seq))
    valid_seqs.append(seq)

    served = wait_for(lambda: all(s in results for s in valid_seqs) and
                      int(diag.get('frames_in', 0)) == seq + 1, timeout_s=60, poll=ros_node.spin)
    assert served, f'results for {sorted(results)}, diagnostics {diag}\n' + nodes.log('edge_node')
    assert edge.poll() is None, 'edge node died'
    assert not set(results) & set(bad_seqs)
    assert {results[s].labels[0] for s in valid_seqs} == {expected_label}
    assert int(diag['frames_served']) == len(valid_seqs)
    for counter in ('rejected_malformed', 'rejected_unknown_codec', 'rejected_too_large',
                    'rejected_mismatch'):
        assert int(diag[counter]) == expected_counts[counter], (counter, diag)
    assert int(diag['rejected_internal_error']) == 0, nodes.log('edge_node')
    log = nodes.log('edge_node')
    assert 'rejected frame' in log and 'fingerprint' in log

    # Results are transient-local (depth 10): a subscriber that matches late,
    # as a monitor may while discovery completes, still gets the latest ones.
    late: list[int] = []
    late_qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros_node.node.create_subscription(Classification, 'classification',
                                      lambda m: late.append(m.seq), late_qos)
    assert wait_for(lambda: len(late) >= 10, timeout_s=30, poll=ros_node.spin), late
    assert late == valid_seqs[-10:]
