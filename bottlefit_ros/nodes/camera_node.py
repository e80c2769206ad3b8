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

``mode`` can be set while the node runs (``ros2 param set /camera_node mode
local``), to any of the modes
loaded at configure (``modes``; default: ``mode``, plus ``local`` when
``deadline_ms`` is set): every model part and publisher they need exists from
configure, so a switch takes effect from the next frame and loses none; it is
logged and counted (``mode_switches`` in ``/diagnostics``, whose message starts
with the current mode: ``split: 120 frames sent, 0 rejected``).

Deadline and fallback (``deadline_ms`` > 0; needs ``local`` among ``modes``):
each frame sent to the edge is kept in flight, with the whole model's input,
and the edge's results on ``classification`` are matched to it by capture
stamp and frame_id. ``deadline_ms`` after the camera started on a frame, its
answer is out: a frame with no edge result by the deadline less the lead (the
robot's measured time to answer a frame, an average seeded by the warm-up at
configure and updated by every local and fallback classification, plus the
deadline check's period; at most half the deadline, so the edge always gets
half of it; ``fallback_lead_ms`` in ``/diagnostics``) is classified here and
published on ``classification`` with mode ``fallback`` and its ``seq``; an
edge result after that is counted (``late_results``), not used. While the
edge is lost (its subscription not matched, or the last ``edge_lost_after``
frames all missed the deadline) new frames are answered here at once (mode
``fallback``), and a matched edge is probed with a frame 1 s after the last
probe, the wait doubling after each unanswered one up to 8 s (a killed edge
stays matched until its DDS lease ends); a new match or an answer in time
brings the edge back. With ``adaptive``, the policy then forgets what it
knew of the edge modes and probes each at once.
Every frame sent ends as exactly one of ``answered_edge``,
``answered_fallback``, ``answered_local`` or ``dropped_<reason>`` (at most
``max_in_flight`` in flight: ``dropped_overflow``; deadline passed more than
``fallback_max_age_ms`` before the camera got to it: ``dropped_stale``); see
:mod:`bottlefit_ros.inflight`. ``/diagnostics`` shows these counts and
``in_flight``.

Adaptive mode (``adaptive: true``; needs ``deadline_ms`` > 0): per frame,
:class:`bottlefit_ros.policy.ModePolicy` picks among the loaded ``modes`` the
one of least predicted latency (``adaptive_objective: latency``, the default),
from what the answered frames measured (robot and edge compute, bytes,
transport; robust averages, so single fallbacks barely move them, plus the
share of slow frames: the expected latency), switching only when another mode
is predicted better by more than the hysteresis plus 1.5 standard errors of the
estimates, a probe of another mode
every ``adaptive_probe_every`` frames (a mode that looks better from one probe
is probed again before a switch), edge modes only while the edge is alive,
and an optional ``adaptive_bandwidth_cap_bps``. ``adaptive_objective: energy``
minimises the predicted robot energy per frame instead, from the robot's power
profile (``power_profile``, chosen as the monitor's estimate chooses it: the
name given, else guessed from the device). Its switches are logged and
counted as ``mode_switches`` (probes as ``adaptive_probes``); ``mode`` is then
not settable. ``/diagnostics`` shows, per loaded mode, what the policy predicts
(``adaptive_predicted_ms_<mode>``, ``nan`` until it can) and its deadline-miss
rate (``adaptive_miss_rate_<mode>``).

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
the graph, then ``start_delay_s`` (default 0). Edge and monitor hear of each
other as this node hears of both, so they have usually matched by then (on
loopback the first result's transport time is that of any frame); a result
published before they match still reaches a transient-local subscriber such
as the monitor (``RESULT_QOS``), with the rest of the discovery in its
latency. A delay makes that less likely where discovery is slow. In local
mode the camera publishes the results itself, so the match is all it waits for.

Owned sources are read on a timer. A tick that comes while the node is still
busy is not queued: rcl moves the next call to the next whole period, so the
node reads the newest image instead of falling behind; periods skipped so are
counted as ``capture_periods_skipped`` (frames never captured, not frames lost).

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
from bottlefit_ros.deployment import FALLBACK_MODE, MODES
from bottlefit_ros.energy import PowerProfile, PowerProfileError, make_power_reader
from bottlefit_ros.msg import Bottleneck, Classification
from bottlefit_ros.nodes._common import (COMPUTE_PARAMS, FRAME_QOS, HAS_MESSAGE_INFO,
                                        LIFECYCLE_PARAMS, MODEL_PARAMS, POWER_PROFILE_PARAM,
                                        QOS_OVERRIDES, RESULT_QOS, Counters, ManagedNode,
                                        Param, model_spec, reject_read_only_and_invalid, run,
                                        safe_text, sample_source)
from bottlefit_ros.nodes._fallback import FallbackGuard
from bottlefit_ros.policy import OBJECTIVES, ModePolicy, PolicyConfig
from bottlefit_ros.runtime import RobotRunner, SeqGaps
from bottlefit_ros.sources import open_source

PARAMS = (
    Param('mode', 'split', 'split: send the head\'s bottleneck; local: run the whole model '
          'here; offload: send JPEG images to the edge; can change at run time to one of the '
          'modes loaded (modes)', read_only=False, choices=MODES),
    Param('modes', ['auto'], 'modes loaded at configure, which mode can switch between at '
          'run time; [auto] = mode, plus local when deadline_ms > 0'),
    Param('deadline_ms', 0.0, 'per frame sent to the edge: its answer is out this long after '
          'the camera started on it; without an edge result by the deadline less the robot\'s '
          'measured time to answer a frame (at most half the deadline), the frame is '
          'classified here (mode "fallback"); 0 = off', min=0.0, max=60_000.0),
    Param('max_in_flight', 32, 'with deadline_ms: frames awaiting a result, at most (the oldest '
          'is dropped: dropped_overflow)', min=1, max=4096),
    Param('fallback_max_age_ms', 1000.0, 'with deadline_ms: a frame older than this when its '
          'deadline is handled is dropped (dropped_stale), not classified here (at least '
          'deadline_ms)', min=0.0, max=600_000.0),
    Param('adaptive', False, 'with deadline_ms: choose the mode per frame among modes, by '
          'least predicted latency from measured costs (bottlefit_ros.policy)'),
    Param('adaptive_probe_every', 50, 'adaptive: frames between probes of another mode; '
          '0 = never', min=0, max=100_000),
    Param('adaptive_bandwidth_cap_bps', 0.0, 'adaptive: edge modes whose bytes per frame at '
          'rate_hz exceed this are not used; 0 = no cap', min=0.0, max=1e12),
    Param('adaptive_objective', 'latency', 'adaptive: what the policy minimises: latency '
          '(predicted end-to-end) or energy (predicted robot energy per frame, from '
          'power_profile)', choices=OBJECTIVES),
    POWER_PROFILE_PARAM,
    Param('edge_lost_after', 3, 'with deadline_ms: the edge counts as lost after this many '
          'frames in a row missed their deadline; new frames are then answered here at once',
          min=1, max=10_000),
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
    Param('start_delay_s', 0.0, 'with start_when_subscribed and autostart, split/offload '
          'mode: wait this long after the subscribers appear, so they can match each other '
          'too (results sent before still reach the transient-local monitor)',
          min=0.0, max=60.0),
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
                                 capture_periods_skipped=0, mode_switches=0, adaptive_probes=0,
                                 **{k: 0 for k in REJECT_KEYS})
        # image_raw samples that never reached the callback (replaced in the queue of
        # one by a newer image, or lost), from each driver's DDS sequence numbers.
        self.input_gaps = SeqGaps()
        self._last_logged: dict[str, float] = {}
        self.seq = 0
        self._encode_ms_total = 0.0   # offload: JPEG encode time of the frames sent
        self._source_ended = False
        self.runner: RobotRunner | None = None
        self.guard: FallbackGuard | None = None     # deadline_ms > 0
        self.policy: ModePolicy | None = None       # adaptive
        self.pub = self.diag_pub = self.diag_timer = self.image_sub = None
        self._pubs: dict = {}     # loaded mode -> its output publisher (self.pub: the current)
        self.source = None
        self.timer = None
        self._last_tick_ns: int | None = None
        self.start()

    # -- lifecycle ---------------------------------------------------------
    def _configure(self) -> None:
        """Load the model, open the source (or subscribe image_raw), create the
        publishers; the owned source's timer is created stopped."""
        p = self.params
        deadline_ms = float(p['deadline_ms'])
        self.runner = RobotRunner(model_spec(p), mode=self.mode, codec=str(p['codec']),
                                  compression_level=int(p['compression_level']),
                                  jpeg_quality=int(p['jpeg_quality']), top_k=int(p['top_k']),
                                  device=str(p['device']), backend=str(p['backend']),
                                  threads=int(p['num_threads']),
                                  modes=modes_to_load(self.mode, p['modes'], deadline_ms))
        self._pubs = {}
        if 'local' in self.runner.modes:
            self._pubs['local'] = self.create_publisher(
                Classification, 'classification', RESULT_QOS, qos_overriding_options=QOS_OVERRIDES)
        if 'split' in self.runner.modes:
            self._pubs['split'] = self.create_publisher(
                Bottleneck, 'bottleneck', FRAME_QOS, qos_overriding_options=QOS_OVERRIDES)
        if 'offload' in self.runner.modes:
            self._pubs['offload'] = self.create_publisher(
                CompressedImage, 'image_raw/compressed', FRAME_QOS,
                qos_overriding_options=QOS_OVERRIDES)
        self.pub = self._pubs[self.mode]
        if deadline_ms > 0:
            # The first fallback has a deadline to keep; its time seeds the lead.
            took = self.runner.warm_up()
            self.guard = FallbackGuard(
                self, self.runner, self._pubs['local'],
                self._pubs.get('split', self._pubs.get('offload')), deadline_s=deadline_ms / 1e3,
                capacity=int(p['max_in_flight']),
                max_age_s=float(p['fallback_max_age_ms']) / 1e3,
                lost_after=int(p['edge_lost_after']), local_ms=took['whole'])
        if bool(p['adaptive']):
            if self.guard is None:
                raise ValueError('parameter adaptive needs deadline_ms > 0 (its results feed '
                                 'the policy, and the fallback covers a probe the edge misses)')
            rate = float(p['rate_hz']) if p['source'] != 'topic' else 10.0
            self.policy = ModePolicy(PolicyConfig(
                objective=str(p['adaptive_objective']), modes=self.runner.modes,
                probe_every=int(p['adaptive_probe_every']),
                bandwidth_cap_bps=float(p['adaptive_bandwidth_cap_bps']), frame_rate_hz=rate),
                initial=self.mode, profile=robot_power_profile(str(p['power_profile'])))
            self.guard.observer = self.policy.observe
            self.guard.on_edge_back = self.policy.edge_returned
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
            f'{self.mode} mode (loaded: {", ".join(self.runner.modes)}'
            + (f'; deadline {deadline_ms:g} ms' if self.guard else '')
            + (f'; adaptive, objective {self.policy.config.objective}, power profile '
               f'{self.policy.profile.name}' if self.policy else '') + f'), '
            f'model {info.model} split {info.split} on '
            f'{self.runner.engine.backend} ({params}fingerprint {self.runner.head_fingerprint}); '
            f'frames from {where}')

    def _activate(self) -> None:
        """Gate again from now; restart the owned source's timer unless it is done."""
        self._ready_since = None
        self._last_tick_ns = None
        if self.timer is not None and not self._source_ended and not self._done():
            self.timer.reset()

    def _deactivate(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _release(self) -> None:
        """Destroy timers, subscription and publishers; close the source; drop the model."""
        guard, self.guard = self.guard, None
        self.policy = None
        if guard is not None:
            guard.close()
        self._destroy_entities(self.timer, self.diag_timer, self.image_sub, self.diag_pub,
                               *(guard.entities() if guard else ()),
                               *dict.fromkeys(self._pubs.values()))
        self.timer = self.diag_timer = self.image_sub = self.pub = self.diag_pub = None
        self._pubs = {}
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
        # (not counting this node's own result subscription, in local mode)
        own = int(self.guard is not None and self.pub is self._pubs.get('local'))
        if self.pub.get_subscription_count() <= own:
            return False
        if not self.autostart or self.mode == 'local':
            self._ready_since = self.get_clock().now()
            self.get_logger().info('output matched a subscriber; frames flow')
            return True
        # (not counting this node's own: its fallback publisher and result subscription)
        if (self.count_publishers('classification') > int('local' in self._pubs)
                and self.count_subscribers('classification') > int(self.guard is not None)):
            self._ready_since = self.get_clock().now() + Duration(seconds=self.start_delay_s)
            self.get_logger().info(f'subscribers matched; first frame in {self.start_delay_s} s')
        return False

    def _done(self) -> bool:
        return 0 < self.max_frames <= self.seq

    def _on_timer(self) -> None:
        now_ns = time.monotonic_ns()
        if self._last_tick_ns is not None:   # rcl skips the periods a late tick missed
            periods = round((now_ns - self._last_tick_ns) / self.timer.timer_period_ns)
            self.counters['capture_periods_skipped'] += max(0, periods - 1)
        self._last_tick_ns = now_ns
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
        failure is counted as a rejection, never raised. With a deadline, a frame
        the edge cannot answer now is answered here at once (mode fallback)."""
        started = time.monotonic()
        guard = self.guard
        mode = self.mode if self.policy is None else self._adaptive_mode(started)
        edge = guard is not None and mode != 'local'
        here = edge and not guard.send_to_edge(self._pubs[mode], started)
        try:
            out = self.runner.process(rgb, mode='local' if here else mode,
                                      keep_input=edge and not here)
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
                                         seq=self.seq, mode=FALLBACK_MODE if here else 'local',
                                         model=info.model, payload_bytes=0,
                                         timings=out.timings)
            elif out.jpeg is not None:
                msg = compressed_image_msg(out.jpeg, fmt=out.jpeg_format, stamp=stamp,
                                           frame_id=frame_id)
                self._encode_ms_total += out.timings.encode_ms
            else:
                msg = bottleneck_msg(out.encoded, stamp=stamp, frame_id=frame_id, seq=self.seq,
                                     model=info.model, split=info.split,
                                     head_fingerprint=self.runner.head_fingerprint,
                                     timings=out.timings)
            self._pubs[out.mode].publish(msg)
        except Exception as exc:  # noqa: BLE001 - e.g. a field out of its type's range
            self._reject('internal_error', f'cannot publish frame: {exc!r}')
            return
        if guard is not None:
            guard.account(stamp, frame_id, self.seq, out, started, here)
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
        """Validate changes against :data:`PARAMS`; apply a new ``rate_hz`` or
        ``mode`` here (post-set callbacks do not exist on Humble). ``rate_hz`` is
        refused with ``source: topic``, where the driver sets the rate; ``mode``
        when it was not loaded at configure."""
        result = self._validate(changes)
        rates = [c for c in changes if c.name == 'rate_hz']
        modes = [c for c in changes if c.name == 'mode']
        if not result.successful or not (rates or modes):
            return result
        if rates and self.params['source'] == 'topic':
            return SetParametersResult(
                successful=False, reason='rate_hz applies to sources this node owns; with '
                'source "topic" frames come at the camera driver\'s rate')
        if modes and self.policy is not None:
            return SetParametersResult(successful=False, reason='mode is chosen per frame by '
                                       'the adaptive policy (adaptive: true)')
        if modes and self.runner is not None and modes[-1].value not in self.runner.modes:
            return SetParametersResult(
                successful=False, reason=f'mode {safe_text(modes[-1].value)} was not loaded at '
                f'configure (loaded: {", ".join(self.runner.modes)}; see the modes parameter)')
        if modes:
            self._switch_mode(str(modes[-1].value))
        if self.timer is None or not rates:   # unconfigured: configure reads the new rate
            return result
        self.timer.timer_period_ns = int(1e9 / float(rates[-1].value))
        self._last_tick_ns = None
        if not self.timer.is_canceled():
            self.timer.reset()   # the new period starts now, not after the old one
        return result

    def _adaptive_mode(self, now_s: float) -> str:
        """This frame's mode, from the adaptive policy; its switches (not its
        one-frame probes) become the node's mode. While the edge is lost, the
        guard's liveness probes to a matched edge (1 s apart, backing off) still
        go to the edge, so an edge that answers again is seen."""
        alive = self.guard.edge_alive()
        self.policy.set_edge_available(alive)
        decision = self.policy.choose()
        if self.policy.mode != self.mode:
            self._switch_mode(self.policy.mode, why=f' (adaptive: {decision.reason})')
        if decision.reason == 'probe':
            self.counters['adaptive_probes'] += 1
        if not alive and decision.mode == 'local' and self.guard.edge.probe_due(now_s):
            return next((m for m in self.runner.modes if m != 'local'), 'local')
        return decision.mode

    def _switch_mode(self, mode: str, why: str = '') -> None:
        """Send frames in ``mode`` from the next one on (unconfigured: configure
        loads it); logged and counted."""
        old, self.mode = self.mode, mode
        if self.runner is not None:
            self.runner.switch(mode)
            self.pub = self._pubs[mode]
        if mode != old:
            self.counters['mode_switches'] += 1
            self.get_logger().info(f'mode {old} -> {mode} from frame seq={self.seq}{why} '
                                   f'[mode_switches: {self.counters["mode_switches"]}]')

    def _publish_diagnostics(self) -> None:
        sent = self.counters['frames_sent']
        # Offload results carry no robot stage timings (a CompressedImage has no
        # field for them): the encode time is reported here instead.
        extra = ({'encode_ms_mean': f'{self._encode_ms_total / sent:.3f}' if sent else 'nan'}
                 if self.mode == 'offload' else None)
        self.diag_pub.publish(self.counters.status(
            self, f'{self.mode}: {sent} frames sent, '
            f'{self.counters["frames_rejected"]} rejected'
            + ('' if self.active else ' (inactive)'), warn_keys=REJECT_KEYS,
            extra={**(self.guard.status() if self.guard else {}),
                   **({f'adaptive_{k}': v for k, v in self.policy.status().items()}
                      if self.policy else {}), **(extra or {})} or None))


def modes_to_load(mode: str, modes: list[str] | str, deadline_ms: float) -> tuple[str, ...]:
    """The modes a camera loads: ``mode`` and those listed (``['auto']``: plus
    ``local`` when ``deadline_ms`` > 0, the fallback needs the whole model).
    ``ValueError`` for an unknown mode, or a deadline without ``local``."""
    listed = [modes] if isinstance(modes, str) else [str(m) for m in modes]
    if listed == ['auto']:
        listed = ['local'] if deadline_ms > 0 else []
    unknown = [m for m in listed if m not in MODES]
    if unknown:
        raise ValueError(f'parameter modes lists {safe_text(unknown[0])!r}; each must be one '
                         f'of {", ".join(MODES)} (or modes: [auto])')
    loaded = tuple(dict.fromkeys((mode, *listed)))
    if deadline_ms > 0 and 'local' not in loaded:
        raise ValueError('parameter deadline_ms > 0 needs local among modes (the fallback runs '
                         'the whole model here)')
    return loaded


def robot_power_profile(name: str) -> PowerProfile:
    """The robot's power profile for the policy's energy predictions, chosen as
    the monitor's estimate chooses it (``make_power_reader('estimate')``: the
    name given, else guessed from the device); ``ValueError`` for an unknown name."""
    try:
        return make_power_reader('estimate', profile=name or None).profile
    except PowerProfileError as exc:
        raise ValueError(f'parameter power_profile: {exc}') from None


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run bottlefit_ros camera_node``."""
    return run(CameraNode, args)
