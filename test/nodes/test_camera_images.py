"""The camera node on ``image_raw`` from another process: every encoding a
driver commonly sends is converted and served; an image it cannot use
(unknown encoding, size that does not fit its data, over ``max_image_pixels``,
a control character in its encoding) is dropped, counted per reason and logged
on one line, and the node keeps serving."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

W, H = 64, 48


def image(encoding: str, data: bytes, *, width: int = W, height: int = H, step: int | None = None,
          bigendian: bool = False):
    from sensor_msgs.msg import Image
    msg = Image()
    msg.header.frame_id = 'test_cam'
    msg.width, msg.height, msg.encoding = width, height, encoding
    msg.is_bigendian = int(bigendian)
    msg.step = step if step is not None else (len(data) // height if height else 0)
    msg.data = data
    return msg


def valid_images() -> list:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    grey16 = rng.integers(0, 2**16, (H, W), dtype=np.uint16)
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
    uyvy = np.stack([yuv[:, :, 1], yuv[:, :, 0]], axis=-1)   # U/V alternate with Y
    padded = np.zeros((H, W * 3 + 16), np.uint8)
    padded[:, :W * 3] = rgb.reshape(H, -1)
    return [image('rgb8', padded.tobytes(), step=W * 3 + 16),
            image('bgr8', rgb.tobytes()), image('8UC3', rgb.tobytes()),
            image('rgba8', np.dstack([rgb, rgb[:, :, :1]]).tobytes()),
            image('mono8', rgb[:, :, 0].tobytes()), image('8UC1', rgb[:, :, 0].tobytes()),
            image('mono16', grey16.astype('<u2').tobytes()),
            image('mono16', grey16.astype('>u2').tobytes(), bigendian=True),
            image('16UC1', grey16.tobytes()),
            image('32FC1', (grey16 / 65535).astype(np.float32).tobytes()),
            image('yuv422', uyvy.tobytes()), image('yuv422_yuy2', uyvy[:, :, ::-1].tobytes()),
            image('bayer_rggb8', rgb[:, :, 1].tobytes())]


def bad_images() -> list:
    rgb = bytes(W * H * 3)
    return [('rejected_encoding', image('foo', rgb)),
            ('rejected_encoding', image('', rgb)),
            ('rejected_encoding', image('rgb8\n[FATAL] [0] [camera_node]: forged', rgb)),
            ('rejected_malformed', image('rgb8', rgb[: len(rgb) // 2], step=W * 3)),
            ('rejected_malformed', image('rgb8', rgb, step=W)),
            ('rejected_malformed', image('rgb8', b'', width=0, height=0, step=0)),
            ('rejected_too_large', image('rgb8', rgb[:3], width=20000, height=20000,
                                         step=60000))]


def test_every_encoding_served_and_bad_images_counted(nodes, ros_node, wait_for):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from bottlefit_ros.msg import Bottleneck
    from bottlefit_ros.nodes._common import FRAME_QOS

    camera = nodes.start('camera_node', source='topic', mode='split', num_threads=1,
                         start_when_subscribed=False, diagnostics_period_s=0.1)
    pub = ros_node.node.create_publisher(Image, 'image_raw', qos_profile_sensor_data)
    frames: list[int] = []
    ros_node.node.create_subscription(Bottleneck, 'bottleneck', lambda m: frames.append(m.seq),
                                      FRAME_QOS)
    diag: dict[str, int] = {}

    def on_diag(arr: DiagnosticArray) -> None:
        for st in arr.status:
            if st.hardware_id == 'camera_node':
                diag.update({kv.key: int(kv.value) for kv in st.values})
    ros_node.node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    assert wait_for(lambda: pub.get_subscription_count() > 0 and 'frames_in' in diag,
                    timeout_s=90, poll=ros_node.spin), nodes.logs()

    def deliver(msg, counter: str) -> None:
        """Publish ``msg`` (again, if best effort lost it) until the camera has
        taken it; every image it took meanwhile must have gone to ``counter``."""
        before = dict(diag)
        for _ in range(10):
            pub.publish(msg)
            if wait_for(lambda: diag['frames_in'] > before['frames_in'], timeout_s=3,
                        poll=ros_node.spin):
                break
        taken = diag['frames_in'] - before['frames_in']
        assert taken > 0, f'camera never took a {msg.encoding!r} image:' + nodes.logs()
        assert diag[counter] - before[counter] == taken, (msg.encoding, diag, nodes.logs())
        assert camera.poll() is None, 'camera died:' + nodes.logs()

    for msg in valid_images():
        deliver(msg, 'frames_sent')
    for counter, msg in bad_images():
        deliver(msg, counter)
    deliver(valid_images()[0], 'frames_sent')   # still serving

    assert wait_for(lambda: len(frames) == diag['frames_sent'], timeout_s=10,
                    poll=ros_node.spin), (frames, diag)
    rejected = sum(v for k, v in diag.items() if k.startswith('rejected_'))
    assert diag['frames_in'] == diag['frames_sent'] + rejected
    assert diag['frames_rejected'] == rejected and diag['rejected_internal_error'] == 0
    log = nodes.log('camera_node')
    assert 'unsupported encoding' in log and 'max_pixels' in log, log
    assert not any(line.startswith('[FATAL]') for line in log.splitlines()), log
