"""Robot-side node: frames in, head + codec, bottleneck (or result) out.

Frames come from a ``sensor_msgs/Image`` topic (``image_raw``, SensorDataQoS,
so usb_cam / v4l2_camera drop in) or from a source the node owns (folder of
images, camera device or video through OpenCV, synthetic pattern).

Modes: ``split`` publishes ``bottleneck`` (head output, quantized + compressed),
``offload`` publishes the frame as a JPEG ``sensor_msgs/CompressedImage`` on
``image_raw/compressed`` (image_transport's name and format convention,
``jpeg``, which image_transport reads as a bgr8 JPEG and Foxglove as its plain
value; header = the frame's stamp and frame_id), which
rqt_image_view and Foxglove show, ``local`` runs the whole model here and
publishes ``classification`` itself. The edge serves any camera's
``image_raw/compressed``: a driver that publishes its own compressed stream
(usb_cam's MJPEG, image_transport's ``compressed`` plugin) needs no camera_node
at all in offload mode. Running both on one name (this node in offload mode
beside a driver's compressed publisher in the same namespace) would send every
frame twice, so the edge would classify each twice. The JPEG carries no stage
timings: the edge's offload results report zero robot stages, and this node's
``/diagnostics`` reports its mean JPEG encode time (``encode_ms_mean``).

Managed (lifecycle) node: parameters are declared at start; ``configure``
loads the model, opens the source (or subscribes ``image_raw``) and creates the
publishers; ``activate`` starts frames (the owned source's timer runs,
``image_raw`` frames are processed); ``deactivate`` stops them (``image_raw``
frames arriving meanwhile are counted as ``dropped_inactive``); ``cleanup`` and
``shutdown`` release the model and the source. With ``autostart`` (default) the
node configures and activates itself; with ``autostart: false`` a lifecycle
manager (nav2_lifecycle_manager, ``ros2 lifecycle set``) brings it up.

Start gating (``start_when_subscribed``): frames are held until this node's
output publisher has matched a subscriber (the edge; in local mode the
monitor), a real match, so no frame is sent into the void. Under a manager
(``autostart: false``) that is all: activation, which the manager orders after
the edge's, is the gate. With ``autostart`` in split and offload mode the
camera cannot see whether the edge and the monitor have matched each other,
so it also waits for the result topic to have a publisher and a subscriber in
the graph, then ``start_delay_s``; results published earlier still reach a
transient-local subscriber such as the monitor (``RESULT_QOS``), but with the
discovery wait in their latency. In local mode the camera publishes the
results itself, so the match is all it waits for.

An image that cannot be used (unsupported encoding, size that does not fit its
data, more than ``max_image_pixels``) or a frame that fails anywhere is dropped,
logged (throttled per reason) and counted in ``/diagnostics`` as
``rejected_<reason>``; the node keeps serving.
"""
from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from bottlefit_ros.codec import CODECS
from bottlefit_ros.conversions import (ImageError, bottleneck_msg, classification_msg,
                                       compressed_image_msg, image_to_rgb)
from bottlefit_ros.deployment import MODES
from bottlefit_ros.msg import Bottleneck, Classification
from bottlefit_ros.nodes._common import (COMPUTE_PARAMS, FRAME_QOS, HAS_MESSAGE_INFO,
                                        LIFECYCLE_PARAMS, MODEL_PARAMS, QOS_OVERRIDES,
                                        RESULT_QOS, Counters, ManagedNode, Param, model_spec,
                                        reject_read_only_and_invalid, run, safe_text,
                                        sample_source)
from bottlefit_ros.runtime import RobotRunner, SeqGaps
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
    Param('rate_hz', 10.0, 'frame rate for sources the node owns; can change at run time '
          '(a change is refused with source "topic": frames come at the driver\'s rate)',
          read_only=False, min=0.1, max=1000.0),
    Param('max_image_pixels', 4096 * 4096, 'image_raw frames with more pixels (width x height) '
          'are dropped before their data is read (rejected_too_large)', min=1, max=2**40),
    Param('max_frames', 0, 'stop sending after this many frames; 0 = no limit', min=0,
          max=2**31 - 1),
    Param('start_when_subscribed', True, 'hold frames until the output topic has matched a '
          'subscriber; with autostart in split/offload mode, also until the result topic has '
          'a publisher and a subscriber, then start_delay_s'),
    Param('start_delay_s', 1.0, 'with start_when_subscribed and autostart, split/offload '
          'mode: wait this long after the subscribers appear, so they can match each other '
          'too', min=0.0, max=60.0),
    Param('frame_id', 'camera', 'frame_id for frames from an owned source'),
    *COMPUTE_PARAMS,
    *LIFECYCLE_PARAMS,
)

# image_raw: the sensor-data profile (best effort, volatile) with a queue of one,
# so a slow head always gets the newest frame and no backlog of big images is
# held (qos_profile_sensor_data keeps 5).
IMAGE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.BEST_EFFORT,
                       durability=DurabilityPolicy.VOLATILE)
REJECT_KEYS = ('rejected_encoding', 'rejected_malformed', 'rejected_too_large',
               'rejected_internal_error')
LOG_EVERY_S = 5.0   # at most one log line per rejection reason this often


class CameraNode(ManagedNode):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__('camera_node', PARAMS)
        p = self.params
        self._validate = reject_read_only_and_invalid(PARAMS)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.mode = str(p['mode'])
        self.frame_id = str(p['frame_id'])
        self.max_frames = int(p['max_frames'])
        self.max_image_pixels = int(p['max_image_pixels'])
        self.wait_for_subscribers = bool(p['start_when_subscribed'])
        self.start_delay_s = float(p['start_delay_s'])
        self._ready_since: Time | None = None
        self.counters = Counters(frames_in=0, frames_sent=0, frames_rejected=0,
                                 dropped_inactive=0, dropped_not_ready=0, frames_missed=0,
                                 **{k: 0 for k in REJECT_KEYS})
        # image_raw samples that never reached the callback (replaced in the queue of
        # one by a newer image, or lost), from each driver's DDS sequence numbers.
        self.input_gaps = SeqGaps()
        self._last_logged: dict[str, float] = {}
        self.seq = 0
        self._encode_ms_total = 0.0   # offload: JPEG encode time of the frames sent
        self._source_ended = False
        self.runner: RobotRunner | None = None
        self.pub = self.diag_pub = self.diag_timer = self.image_sub = None
        self.source = None
        self.timer = None
        self.start()

    # -- lifecycle ---------------------------------------------------------
    def _configure(self) -> None:
        """Load the model, open the source (or subscribe image_raw), create the
        publishers; the owned source's timer is created stopped."""
        p = self.params
        self.runner = RobotRunner(model_spec(p), mode=self.mode, codec=str(p['codec']),
                                  compression_level=int(p['compression_level']),
                                  jpeg_quality=int(p['jpeg_quality']), top_k=int(p['top_k']),
                                  device=str(p['device']), backend=str(p['backend']),
                                  threads=int(p['num_threads']))
        if self.mode == 'local':
            self.pub = self.create_publisher(Classification, 'classification', RESULT_QOS,
                                             qos_overriding_options=QOS_OVERRIDES)
        elif self.mode == 'offload':
            self.pub = self.create_publisher(CompressedImage, 'image_raw/compressed', FRAME_QOS,
                                             qos_overriding_options=QOS_OVERRIDES)
        else:
            self.pub = self.create_publisher(Bottleneck, 'bottleneck', FRAME_QOS,
                                             qos_overriding_options=QOS_OVERRIDES)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.diag_timer = self.create_timer(float(p['diagnostics_period_s']),
                                            self._publish_diagnostics)
        if p['source'] == 'topic':
            callback = self._on_image_with_info if HAS_MESSAGE_INFO else self._on_image
            self.image_sub = self.create_subscription(Image, 'image_raw', callback, IMAGE_QOS,
                                                      qos_overriding_options=QOS_OVERRIDES)
            where = f'topic {self.resolve_topic_name("image_raw")}'
        else:
            rate_hz = float(self.get_parameter('rate_hz').value)
            self.source = open_source(str(p['source']), loop=bool(p['loop']))
            self._source_ended = False
            self.timer = self.create_timer(1.0 / rate_hz, self._on_timer)
            self.timer.cancel()   # runs while active
            where = f'source {p["source"]} at {rate_hz} Hz'
        info = self.runner.info
        params = f'head {info.head_params:,} params, ' if info.head_params else ''
        self.get_logger().info(
            f'{self.mode} mode, model {info.model} split {info.split} on '
            f'{self.runner.engine.backend} ({params}fingerprint {self.runner.head_fingerprint}); '
            f'frames from {where}')

    def _activate(self) -> None:
        """Gate again from now; restart the owned source's timer unless it is done."""
        self._ready_since = None
        if self.timer is not None and not self._source_ended and not self._done():
            self.timer.reset()

    def _deactivate(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _release(self) -> None:
        """Destroy timers, subscription and publishers; close the source; drop the model."""
        self._destroy_entities(self.timer, self.diag_timer, self.image_sub, self.pub,
                               self.diag_pub)
        self.timer = self.diag_timer = self.image_sub = self.pub = self.diag_pub = None
        source, self.source = self.source, None
        self.runner = None
        if source is not None:
            source.close()

    # -- frames ------------------------------------------------------------
    def _ready(self) -> bool:
        """Whether frames may flow (see "Start gating" in the module docstring)."""
        if self._ready_since is not None:
            return self.get_clock().now() >= self._ready_since
        if not self.wait_for_subscribers:
            self._ready_since = self.get_clock().now()
            return True
        if self.pub.get_subscription_count() == 0:
            return False
        if not self.autostart or self.mode == 'local':
            self._ready_since = self.get_clock().now()
            self.get_logger().info('output matched a subscriber; frames flow')
            return True
        if (self.count_publishers('classification') > 0
                and self.count_subscribers('classification') > 0):
            self._ready_since = self.get_clock().now() + Duration(seconds=self.start_delay_s)
            self.get_logger().info(f'subscribers matched; first frame in {self.start_delay_s} s')
        return False

    def _done(self) -> bool:
        return 0 < self.max_frames <= self.seq

    def _on_timer(self) -> None:
        try:
            if self._done():
                self.timer.cancel()
                self.get_logger().info(f'sent {self.seq} frames (max_frames reached)')
                return
            if not self._ready():
                return
            rgb = self.source.read()
            if rgb is None:
                self._source_ended = True
                self.timer.cancel()
                self.get_logger().info(f'source ended after {self.seq} frames')
                return
            self.counters['frames_in'] += 1
        except Exception as exc:  # noqa: BLE001 - e.g. a camera unplugged: keep serving
            self.counters['frames_in'] += 1
            self._reject('internal_error', f'cannot read a frame from the source: {exc!r}')
            return
        self._process(rgb, self.get_clock().now().to_msg(), self.frame_id)

    def _on_image_with_info(self, msg: Image, info: dict) -> None:
        source = sample_source(info)
        if source is not None:
            # A driver may have run long before this camera: count from what it sees.
            self.counters['frames_missed'] += self.input_gaps.update(*source, first=None)
        self._on_image(msg)

    def _on_image(self, msg: Image) -> None:
        if not self.active:
            self._drop_inactive()
            return
        try:
            if self._done():
                return
            if not self._ready():
                self.counters['dropped_not_ready'] += 1
                return
        except Exception as exc:  # noqa: BLE001 - no message may stop the node
            self._reject('internal_error', f'cannot check readiness: {exc!r}')
            return
        self.counters['frames_in'] += 1
        try:
            rgb = image_to_rgb(msg, max_pixels=self.max_image_pixels)
            stamp = msg.header.stamp
            if stamp.sec == 0 and stamp.nanosec == 0:   # driver left it empty
                stamp = self.get_clock().now().to_msg()
            frame_id = msg.header.frame_id or self.frame_id
        except ImageError as exc:
            self._reject(exc.reason, f'dropped image from '
                         f'{safe_text(msg.header.frame_id) or "?"}: {exc}')
            return
        except Exception as exc:  # noqa: BLE001 - no message may stop the node
            self._reject('internal_error', f'cannot convert image: {exc!r}')
            return
        self._process(rgb, stamp, frame_id)

    def _process(self, rgb, stamp, frame_id: str) -> None:
        """Head (+ codec) or whole model on one RGB frame, then publish; every
        failure is counted as a rejection, never raised."""
        try:
            out = self.runner.process(rgb)
        except ValueError as exc:
            self._reject('malformed', f'cannot process a {getattr(rgb, "shape", "?")} frame: '
                                      f'{exc}')
            return
        except Exception as exc:  # noqa: BLE001 - a frame must never stop the node
            self._reject('internal_error', f'cannot process frame: {exc!r}')
            return
        try:
            info = self.runner.info
            if out.result is not None:
                msg = classification_msg(out.result,
                                         header=Header(stamp=stamp, frame_id=frame_id),
                                         seq=self.seq, mode=self.mode, model=info.model,
                                         payload_bytes=0, timings=out.timings)
            elif out.jpeg is not None:
                msg = compressed_image_msg(out.jpeg, fmt=out.jpeg_format, stamp=stamp,
                                           frame_id=frame_id)
                self._encode_ms_total += out.timings.encode_ms
            else:
                msg = bottleneck_msg(out.encoded, stamp=stamp, frame_id=frame_id, seq=self.seq,
                                     model=info.model, split=info.split,
                                     head_fingerprint=self.runner.head_fingerprint,
                                     timings=out.timings)
            self.pub.publish(msg)
        except Exception as exc:  # noqa: BLE001 - e.g. a field out of its type's range
            self._reject('internal_error', f'cannot publish frame: {exc!r}')
            return
        self.seq += 1
        self.counters['frames_sent'] += 1

    def _reject(self, reason: str, text: str) -> None:
        """Count a dropped frame under ``rejected_<reason>`` and log it, at most
        once per :data:`LOG_EVERY_S` for each reason."""
        key = f'rejected_{reason}'
        self.counters[key] += 1
        self.counters['frames_rejected'] += 1
        now = time.monotonic()
        last = self._last_logged.get(key)
        if last is None or now - last >= LOG_EVERY_S:
            self._last_logged[key] = now
            self.get_logger().warning(f'{safe_text(text, 600)} [{key}: {self.counters[key]}]')

    def _drop_inactive(self) -> None:
        """Count (and log, throttled) an image_raw frame that came while inactive."""
        self.counters['dropped_inactive'] += 1
        self.get_logger().info(f'inactive: image_raw frames are dropped '
                               f'[dropped_inactive: {self.counters["dropped_inactive"]}]',
                               throttle_duration_sec=LOG_EVERY_S)

    # -- parameters and status -------------------------------------------
    def _on_set_parameters(self, changes: list) -> SetParametersResult:
        """Validate changes against :data:`PARAMS`; apply a new ``rate_hz`` here
        (post-set callbacks do not exist on Humble). ``rate_hz`` is refused
        with ``source: topic``, where the driver sets the rate."""
        result = self._validate(changes)
        rates = [c for c in changes if c.name == 'rate_hz']
        if not result.successful or not rates:
            return result
        if self.params['source'] == 'topic':
            return SetParametersResult(
                successful=False, reason='rate_hz applies to sources this node owns; with '
                'source "topic" frames come at the camera driver\'s rate')
        if self.timer is None:   # unconfigured: configure reads the new rate
            return result
        self.timer.timer_period_ns = int(1e9 / float(rates[-1].value))
        if not self.timer.is_canceled():
            self.timer.reset()   # the new period starts now, not after the old one
        return result

    def _publish_diagnostics(self) -> None:
        sent = self.counters['frames_sent']
        # Offload results carry no robot stage timings (a CompressedImage has no
        # field for them): the encode time is reported here instead.
        extra = ({'encode_ms_mean': f'{self._encode_ms_total / sent:.3f}' if sent else 'nan'}
                 if self.mode == 'offload' else None)
        self.diag_pub.publish(self.counters.status(
            self, f'{self.mode}: {sent} frames sent, '
            f'{self.counters["frames_rejected"]} rejected'
            + ('' if self.active else ' (inactive)'), warn_keys=REJECT_KEYS, extra=extra))


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run bottlefit_ros camera_node``."""
    return run(CameraNode, args)
