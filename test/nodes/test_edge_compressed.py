"""Offload as ``sensor_msgs/CompressedImage``: the edge serves any camera's JPEG
stream on ``image_raw/compressed``. An independent publisher (a plain rclpy node,
no camera_node) sends the sample photos' own JPEG files, as a driver passing its
camera's MJPEG through would, and image_transport-style re-encodings: the edge
answers each with the top-1 of the in-process EdgeRunner, numbered by the
publisher's sample number; corrupt, lying, oversized and non-JPEG images are
counted by reason, not served, and the edge stays up."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip('bottlefit_ros.msg', reason='needs the colcon-built package (`make test`)')

from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage

from bottlefit_ros.codec import JpegCodec
from bottlefit_ros.msg import Classification
from bottlefit_ros.nodes._common import HAS_MESSAGE_INFO
from bottlefit_ros.runtime import EdgeRunner, ModelSpec
from bottlefit_ros.sources import FolderSource, sample_photos_dir

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def _claiming(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header (SOF0) declaring ``width`` x ``height``."""
    data = bytearray(jpeg)
    i = data.index(b'\xff\xc0') + 5
    data[i:i + 4] = height.to_bytes(2, 'big') + width.to_bytes(2, 'big')
    return bytes(data)


def test_edge_serves_any_cameras_compressed_stream(nodes, ros_node, diagnostics, wait_for):
    photos = sorted(sample_photos_dir().glob('*.jpg'))
    assert len(photos) >= 3
    files = [p.read_bytes() for p in photos]
    small = JpegCodec(80).encode(np.full((240, 320, 3), 90, np.uint8))
    valid = [(data, 'jpeg') for data in files]                  # a driver's own stream
    rgb = FolderSource(loop=False).read()
    valid.append((JpegCodec(90).encode(rgb), 'bgr8; jpeg compressed bgr8'))
    valid.append((JpegCodec(90).encode(np.ascontiguousarray(rgb[:, :, ::-1])),
                  'rgb8; jpeg compressed rgb8'))              # encoder fed RGB as BGR
    bad = [  # (data, format, counter); rejections are logged at most once a second,
        # so the one whose log line is checked comes first
        (files[1], 'jpeg\n[FATAL] [1.0] [edge_node]: forged', 'rejected_unknown_codec'),
        (files[0][:len(files[0]) // 2] + b'\xff\xd9', 'jpeg', 'rejected_malformed'),
        (_claiming(small, 2360, 2360), 'rgb8; jpeg compressed bgr8', 'rejected_malformed'),
        (_claiming(small, 65000, 65000), 'jpeg', 'rejected_too_large'),
        (b'', 'jpeg', 'rejected_malformed'),
        (files[1], 'png', 'rejected_unknown_codec'),
    ]
    # Valid and bad interleaved: every valid image after a bad one is still served.
    sequence = [valid[0], *[x for pair in zip(bad, valid[1:] + valid[:1]) for x in pair]]
    sequence += valid[len(bad) + 1:]

    reference = EdgeRunner(ModelSpec())
    want = {i: reference.process_jpeg(item[0], fmt=item[1]).result.class_ids[0]
            for i, item in enumerate(sequence) if len(item) == 2}

    # Every image is to be checked, so none may be replaced by a newer one in the
    # edge's queue of one (test_newest_frame_wins): a deeper queue (qos_overrides).
    edge = nodes.start('edge_node', num_threads=1, diagnostics_period_s=0.2,
                       **{'qos_overrides./image_raw/compressed.subscription.depth': 100})
    pub = ros_node.node.create_publisher(
        CompressedImage, 'image_raw/compressed',
        QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE))
    results: list[Classification] = []
    ros_node.node.create_subscription(
        Classification, 'classification', results.append,
        QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    diag = diagnostics.setdefault('edge_node', {})
    assert wait_for(lambda: pub.get_subscription_count() > 0 and 'frames_in' in diag,
                    timeout_s=90, poll=ros_node.spin), nodes.logs()

    stamp = ros_node.node.get_clock().now().to_msg()
    for i, (data, fmt, *_) in enumerate(sequence):
        msg = CompressedImage(format=fmt, data=data)
        msg.header.stamp, msg.header.frame_id = stamp, f'driver_{i}'
        pub.publish(msg)
        ros_node.spin(0.05)
    assert wait_for(lambda: int(diag.get('frames_in', 0)) == len(sequence)
                    and len(results) == len(want), timeout_s=90, poll=ros_node.spin), \
        (len(results), diag, nodes.logs())
    wait_for(lambda: False, timeout_s=0.5, poll=ros_node.spin)      # nothing more comes

    by_frame = {int(r.header.frame_id.removeprefix('driver_')): r for r in results}
    assert len(results) == len(by_frame) == len(want)
    assert {i: r.class_ids[0] for i, r in by_frame.items()} == want
    for i, r in by_frame.items():
        data = sequence[i][0]
        assert (r.mode, r.model, r.payload_bytes) == ('offload', 'efficientnet_lite0', len(data))
        assert (r.header.stamp.sec, r.header.stamp.nanosec) == (stamp.sec, stamp.nanosec)
        assert r.timings.head_ms == r.timings.encode_ms == 0.0 and r.timings.tail_ms > 0
        # seq: the publisher's sample number - 1 (where rclpy reports it), else
        # a count per frame_id (each frame_id here is new: 0).
        assert r.seq == (i if HAS_MESSAGE_INFO else 0)
    for counter in ('rejected_malformed', 'rejected_too_large', 'rejected_unknown_codec'):
        assert int(diag[counter]) == sum(b[2] == counter for b in bad), (counter, diag)
    assert int(diag['frames_served']) == len(want)
    assert int(diag['frames_missed']) == 0
    assert edge.poll() is None
    log = nodes.log('edge_node')
    lines = log.splitlines()
    assert not [line for line in lines if line.startswith(('[FATAL]', '[ERROR]'))], log
    assert not [line for line in lines if line.startswith(('Corrupt', 'Premature'))], log
    assert '\\n[FATAL]' in log               # the forged format is shown escaped
