"""Robot-side node: frames in, head + codec, bottleneck (or result) out.

Frames come from a ``sensor_msgs/Image`` topic (``image_raw``, SensorDataQoS,
so usb_cam / v4l2_camera drop in) or from a source the node owns (folder of
images, camera device or video through OpenCV, synthetic pattern).

Modes: ``split`` publishes ``bottleneck`` (head output, quantized + compressed),
``offload`` publishes ``bottleneck`` carrying a JPEG, ``local`` runs the whole
model here and publishes ``classification`` itself.
"""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from bottlefit_ros.codec import CODECS
from bottlefit_ros.conversions import bottleneck_msg, classification_msg, image_to_rgb
from bottlefit_ros.msg import Bottleneck, Classification
from bottlefit_ros.nodes._common import (COMPUTE_PARAMS, FRAME_QOS, MODEL_PARAMS, RESULT_QOS,
                                        Counters, Param, declare, model_spec,
                                        reject_read_only_and_invalid, run)
from bottlefit_ros.runtime import MODES, RobotRunner, set_torch_threads
from bottlefit_ros.sources import open_source

PARAMS = (
    Param('mode', 'split', 'split: send the head\'s bottleneck; local: run the whole model '
          'here; offload: send JPEG images to the edge', choices=MODES),
    *MODEL_PARAMS,
    Param('codec', 'q8+zstd', 'bottleneck codec (split mode)', choices=tuple(CODECS)),
    Param('compression_level', 3, 'zstandard level', min=1, max=22),
    Param('jpeg_quality', 90, 'JPEG quality (offload mode)', min=1, max=100),
    Param('top_k', 5, 'classes per result (local mode)', min=1, max=100),
    Param('source', 'topic', '"topic" (subscribe image_raw), "folder[:PATH]", '
          '"video:DEVICE_OR_FILE" or "synthetic[:WxH]"'),
    Param('loop', True, 'restart a folder or video source at its end'),
    Param('rate_hz', 10.0, 'frame rate for sources the node owns', read_only=False,
          min=0.1, max=1000.0),
    Param('max_frames', 0, 'stop sending after this many frames; 0 = no limit', min=0,
          max=2**31 - 1),
    Param('start_when_subscribed', True, 'hold frames until the output topic has matched a '
          'subscriber and the result topic has a publisher and a subscriber'),
    Param('start_delay_s', 1.0, 'with start_when_subscribed: wait this long after the '
          'subscribers appear, so they can match each other too', min=0.0, max=60.0),
    Param('frame_id', 'camera', 'frame_id for frames from an owned source'),
    *COMPUTE_PARAMS,
)


class CameraNode(Node):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__('camera_node')
        p = declare(self, PARAMS)
        self.add_on_set_parameters_callback(reject_read_only_and_invalid(PARAMS))
        self.add_post_set_parameters_callback(self._on_params_set)
        set_torch_threads(int(p['num_threads']))
        self.mode = str(p['mode'])
        self.runner = RobotRunner(model_spec(p), mode=self.mode, codec=str(p['codec']),
                                  compression_level=int(p['compression_level']),
                                  jpeg_quality=int(p['jpeg_quality']), top_k=int(p['top_k']),
                                  device=str(p['device']))
        self.frame_id = str(p['frame_id'])
        self.max_frames = int(p['max_frames'])
        self.wait_for_subscribers = bool(p['start_when_subscribed'])
        self.start_delay_s = float(p['start_delay_s'])
        self._ready_since: Time | None = None
        self.counters = Counters(frames_in=0, frames_sent=0, frames_rejected=0)
        self.seq = 0

        overrides = QoSOverridingOptions.with_default_policies()
        if self.mode == 'local':
            self.pub = self.create_publisher(Classification, 'classification', RESULT_QOS,
                                             qos_overriding_options=overrides)
        else:
            self.pub = self.create_publisher(Bottleneck, 'bottleneck', FRAME_QOS,
                                             qos_overriding_options=overrides)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(float(p['diagnostics_period_s']), self._publish_diagnostics)

        self.source = None
        self.timer = None
        if p['source'] == 'topic':
            self.create_subscription(Image, 'image_raw', self._on_image, qos_profile_sensor_data)
            where = f'topic {self.resolve_topic_name("image_raw")}'
        else:
            self.source = open_source(str(p['source']), loop=bool(p['loop']))
            self.timer = self.create_timer(1.0 / float(p['rate_hz']), self._on_timer)
            where = f'source {p["source"]} at {p["rate_hz"]} Hz'
        info = self.runner.info
        self.get_logger().info(
            f'{self.mode} mode, model {info.model} split {info.split} '
            f'(head {info.head_params:,} params, fingerprint {self.runner.head_fingerprint}); '
            f'frames from {where}')

    # -- frames ------------------------------------------------------------
    def _ready(self) -> bool:
        """Whether frames may flow: with ``start_when_subscribed``, once this
        publisher has matched a subscriber (the edge; in local mode the
        monitor), the result topic has a publisher (the edge) and a subscriber
        in the graph, and ``start_delay_s`` has passed since, so they can match
        each other too. Results published before they do still reach a
        transient-local subscriber such as the monitor (``RESULT_QOS``)."""
        if self._ready_since is not None:
            return self.get_clock().now() >= self._ready_since
        if not self.wait_for_subscribers:
            self._ready_since = self.get_clock().now()
            return True
        if (self.pub.get_subscription_count() > 0
                and self.count_publishers('classification') > 0
                and self.count_subscribers('classification') > 0):
            self._ready_since = self.get_clock().now() + Duration(seconds=self.start_delay_s)
            self.get_logger().info(f'subscribers matched; first frame in {self.start_delay_s} s')
        return False

    def _done(self) -> bool:
        return 0 < self.max_frames <= self.seq

    def _on_timer(self) -> None:
        if self._done():
            self.timer.cancel()
            self.get_logger().info(f'sent {self.seq} frames (max_frames reached)')
            return
        if not self._ready():
            return
        rgb = self.source.read()
        if rgb is None:
            self.timer.cancel()
            self.get_logger().info(f'source ended after {self.seq} frames')
            return
        self._process(rgb, self.get_clock().now().to_msg(), self.frame_id)

    def _on_image(self, msg: Image) -> None:
        if self._done() or not self._ready():
            return
        self.counters['frames_in'] += 1
        try:
            rgb = image_to_rgb(msg)
        except ValueError as exc:
            self.counters['frames_rejected'] += 1
            self.get_logger().warning(f'dropped image: {exc}', throttle_duration_sec=5.0)
            return
        stamp = msg.header.stamp
        if stamp.sec == 0 and stamp.nanosec == 0:   # driver left it empty
            stamp = self.get_clock().now().to_msg()
        self._process(rgb, stamp, msg.header.frame_id or self.frame_id)

    def _process(self, rgb, stamp, frame_id: str) -> None:
        try:
            out = self.runner.process(rgb)
        except ValueError as exc:
            self.counters['frames_rejected'] += 1
            self.get_logger().warning(f'cannot process frame: {exc}', throttle_duration_sec=5.0)
            return
        info = self.runner.info
        if out.result is not None:
            msg = classification_msg(out.result, header=Header(stamp=stamp, frame_id=frame_id),
                                     seq=self.seq, mode=self.mode, model=info.model,
                                     payload_bytes=0, timings=out.timings)
        else:
            msg = bottleneck_msg(out.encoded, stamp=stamp, frame_id=frame_id, seq=self.seq,
                                 model=info.model, split=info.split,
                                 head_fingerprint=self.runner.head_fingerprint,
                                 timings=out.timings)
        self.pub.publish(msg)
        self.seq += 1
        self.counters['frames_sent'] += 1

    # -- parameters and status -------------------------------------------
    def _on_params_set(self, params: list) -> None:
        for param in params:
            if param.name == 'rate_hz' and self.timer is not None and not self.timer.is_canceled():
                self.timer.cancel()
                self.timer = self.create_timer(1.0 / float(param.value), self._on_timer)

    def _publish_diagnostics(self) -> None:
        self.diag_pub.publish(self.counters.status(
            self, f'{self.mode}: {self.counters["frames_sent"]} frames sent',
            warn_keys=('frames_rejected',)))

    def close(self) -> None:
        """Release the frame source."""
        if self.source is not None:
            self.source.close()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run bottlefit_ros camera_node``."""
    return run(CameraNode, args)
