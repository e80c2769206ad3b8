"""Images that never reach the camera's callback (replaced in its queue of one by a
newer image when it is busy: the newest frame wins) are counted, not silent."""
from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip('bottlefit_ros.msg', reason='needs the colcon-built package (`make test`)')

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

pytestmark = [pytest.mark.ros, pytest.mark.slow]

BURST = 60


def _image(i: int) -> Image:
    msg = Image(height=240, width=320, encoding='rgb8', step=960)
    msg.data = np.full((240, 960), i % 256, np.uint8).tobytes()
    msg.header.frame_id = 'test_driver'
    return msg


def test_images_replaced_while_busy_are_counted_as_missed(nodes, ros_node, diagnostics,
                                                          wait_for):
    nodes.start('camera_node', mode='local', source='topic', start_when_subscribed=False,
                num_threads=1, diagnostics_period_s=0.2)
    pub = ros_node.node.create_publisher(Image, 'image_raw', qos_profile_sensor_data)
    cam = diagnostics.setdefault('camera_node', {})
    assert wait_for(lambda: pub.get_subscription_count() > 0 and 'frames_in' in cam, 120,
                    poll=ros_node.spin), nodes.logs()
    # Images until the camera has seen one (it counts from the first it sees), then a
    # burst far faster than a whole-model pass, then one more after a pause.
    for i in range(30):
        pub.publish(_image(i))
        if wait_for(lambda: int(cam.get('frames_in', 0)) >= 1, 2, poll=ros_node.spin):
            break
    time.sleep(0.5)
    ros_node.spin(0.5)
    accounted_before = int(cam['frames_in']) + int(cam['frames_missed'])
    for i in range(BURST):
        pub.publish(_image(i))
    time.sleep(2.0)
    pub.publish(_image(BURST))
    total = accounted_before + BURST + 1

    def settled() -> bool:
        return int(cam.get('frames_in', 0)) + int(cam.get('frames_missed', 0)) >= total
    assert wait_for(settled, 60, poll=ros_node.spin), (cam, total, nodes.logs())
    assert int(cam['frames_missed']) > 0, cam                    # the burst overflowed
    assert int(cam['frames_in']) + int(cam['frames_missed']) == total, (cam, total)
    assert int(cam['frames_in']) == int(cam['frames_sent']) + int(cam['frames_rejected'])
