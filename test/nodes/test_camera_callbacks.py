"""The camera node's callbacks never raise: a failure anywhere in a frame's
path (conversion, head, codec, publish, the frame source) is counted as a
rejection and logged, and the next frame is served."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy')


@pytest.fixture
def camera(domain_id):
    from bottlefit_ros.nodes.camera_node import CameraNode
    rclpy.init(args=['camera', '--ros-args', '-p', 'source:=topic', '-p', 'num_threads:=1',
                     '-p', 'start_when_subscribed:=false'])
    node = CameraNode()
    yield node
    node.destroy_node()
    rclpy.try_shutdown()


def rgb8(width: int = 32, height: int = 24):
    from bottlefit_ros.conversions import rgb_to_image
    from builtin_interfaces.msg import Time
    return rgb_to_image(np.zeros((height, width, 3), np.uint8), Time(), 'cam')


class Broken:
    """Raises ``exc`` wherever it is called."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def __call__(self, *args, **kwargs):
        raise self.exc


@pytest.mark.parametrize('exc', [RuntimeError('CUDA error'), MemoryError(), KeyError('x')],
                         ids=repr)
def test_failure_in_the_head_is_counted_and_the_next_frame_served(camera, exc, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(camera.runner, 'process', Broken(exc))
        camera._on_image(rgb8())
    camera._on_image(rgb8())
    c = camera.counters
    assert (c['frames_in'], c['frames_sent'], c['rejected_internal_error']) == (2, 1, 1)


def test_failure_to_publish_is_counted(camera, monkeypatch):
    monkeypatch.setattr(camera.pub, 'publish', Broken(RuntimeError('context invalid')))
    camera._on_image(rgb8())
    assert camera.counters['rejected_internal_error'] == 1 and camera.seq == 0


def test_failure_of_an_owned_source_is_counted(camera, monkeypatch):
    from bottlefit_ros.sources import SyntheticSource
    camera.source = SyntheticSource(32, 24)
    camera.timer = camera.create_timer(3600.0, camera._on_timer)
    with monkeypatch.context() as m:
        m.setattr(camera.source, 'read', Broken(OSError('camera unplugged')))
        camera._on_timer()
    camera._on_timer()
    c = camera.counters
    assert (c['frames_in'], c['frames_sent'], c['rejected_internal_error']) == (2, 1, 1)


def test_unusable_images_are_counted_per_reason(camera):
    bad = rgb8()
    bad.encoding = 'jpeg'
    short = rgb8()
    short.data = short.data[:-1]
    camera.max_image_pixels = 100 * 100
    for msg in (bad, rgb8(200, 200), short, rgb8(1, 1), rgb8()):
        camera._on_image(msg)
    c = camera.counters
    assert (c['rejected_encoding'], c['rejected_too_large'], c['rejected_malformed']) == (1, 1, 1)
    assert (c['frames_in'], c['frames_sent'], c['frames_rejected']) == (5, 2, 3)
