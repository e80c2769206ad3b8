"""Edge-side node: frames in, validate + decode + tail (or whole model),
``classification`` out.

- ``bottleneck`` (``bottlefit_ros/Bottleneck``, split mode): checked against
  this edge's head, decoded, classified by the tail.
- ``image_raw/compressed`` (``sensor_msgs/CompressedImage``, with
  ``accept_offload``): a JPEG, from the package's camera in offload mode or from
  any camera driver's image_transport ``compressed`` stream; classified by the
  whole model. Its result has mode ``offload``, ``payload_bytes = len(data)``,
  zero robot stage timings (the message carries none), and ``seq`` = the
  publisher's DDS sample number - 1 (0, 1, 2, ... per publisher) where rclpy
  reports it, else a count per ``frame_id`` from 0. A driver built on
  image_transport in the same namespace publishes (and encodes) its compressed
  stream there while this node subscribes: an edge meant for split mode only
  sets ``accept_offload: false``.

Every malformed or mismatched frame (truncated payload, wrong shape or dtype,
unknown codec or image format, non-finite or overflowing scale, declared size
over the limit, over-long strings, corrupt or truncated JPEG, another head's
fingerprint, another model or split) is rejected with a log line (throttled;
message strings escaped and shortened) and counted per reason in
``/diagnostics``; the node keeps serving. Frames lost before the callback (gaps
in each publisher's DDS sample numbers, or in ``seq`` where rclpy does not
report them) show which frames never reached the callback. Each subscription
keeps only the newest frame (``NEWEST_FRAME_QOS``): a frame still waiting when
a newer one arrives is replaced, so an edge slower than the frame rate serves
the newest work instead of a backlog. Under the default RELIABLE subscription
DDS resends what the link loses, so such gaps are counted as
``dropped_replaced``; gaps before a publisher's first frame here (frames sent
before this node heard it), and every gap under a BEST_EFFORT override (where a
loss and a replacement look alike), as ``frames_missed``.

Managed (lifecycle) node: parameters are declared at start; ``configure`` loads
the model, serves a blank frame of each accepted kind once (warm-up, logged
with its time, so the first real frames after a (re)start keep the camera's
deadline) and then creates the subscription and publishers; ``activate`` serves
frames; while inactive, arriving frames are counted as ``dropped_inactive``
(not as missed, not served); ``cleanup`` and ``shutdown`` release the model.
With ``autostart`` (default) the node configures and activates itself; with
``autostart: false`` a lifecycle manager brings it up.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from copy import copy
from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

from bottlefit_ros.codec import CodecError, PayloadTooLargeError, UnknownCodecError
from bottlefit_ros.conversions import (classification_msg, encoded_from_msg, jpeg_from_msg,
                                       timings_from_msg)
from bottlefit_ros.msg import Bottleneck, Classification
from bottlefit_ros.nodes._common import (COMPUTE_PARAMS, HAS_MESSAGE_INFO, LIFECYCLE_PARAMS,
                                        MODEL_PARAMS, NEWEST_FRAME_QOS, QOS_OVERRIDES,
                                        RESULT_QOS, Counters, ManagedNode, Param, model_spec,
                                        reject_read_only_and_invalid, run, safe_text,
                                        sample_source)
from bottlefit_ros.runtime import (MAX_FRAME_ID_CHARS, EdgeOutput, EdgeRunner, MismatchError,
                                   SeqGaps, StageTimes)

PARAMS = (
    *MODEL_PARAMS,
    Param('accept_offload', True, 'also serve JPEG images on image_raw/compressed '
          '(sensor_msgs/CompressedImage: offload mode, or any camera) with the whole model'),
    Param('max_payload_bytes', 16 * 2**20, 'largest payload accepted, and largest size a '
          'payload may decompress to', min=1, max=2**31 - 1),
    Param('top_k', 5, 'classes per result', min=1, max=100),
    *COMPUTE_PARAMS,
    *LIFECYCLE_PARAMS,
)

REJECT_KEYS = ('rejected_mismatch', 'rejected_malformed', 'rejected_unknown_codec',
               'rejected_too_large', 'rejected_internal_error')
# Where rclpy gives no DDS sample numbers, compressed images are numbered per
# frame_id; this many frame_ids are remembered (least recently seen forgotten).
MAX_COUNTED_FRAME_IDS = 256


class EdgeNode(ManagedNode):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__('edge_node', PARAMS)
        self.add_on_set_parameters_callback(reject_read_only_and_invalid(PARAMS))
        self.counters = Counters(frames_in=0, frames_served=0, frames_missed=0,
                                 dropped_replaced=0, seq_discontinuities=0, dropped_inactive=0,
                                 **{k: 0 for k in REJECT_KEYS})
        self.seq_gaps = SeqGaps()
        self._gaps_counted = 0          # seq_gaps.missed when last split by reason
        self._gaps_are_replacements = True
        self._last_rejection = ''
        self.runner: EdgeRunner | None = None
        self._image_counts: OrderedDict[str, int] = OrderedDict()
        self.pub = self.diag_pub = self.diag_timer = self.sub = self.image_sub = None
        self.start()

    # -- lifecycle ---------------------------------------------------------
    def _configure(self) -> None:
        """Load the model; create the subscription and the publishers."""
        p = self.params
        self.runner = EdgeRunner(model_spec(p), max_payload_bytes=int(p['max_payload_bytes']),
                                 top_k=int(p['top_k']), device=str(p['device']),
                                 accept_offload=bool(p['accept_offload']),
                                 backend=str(p['backend']), threads=int(p['num_threads']))
        # Before anything is subscribed: a freshly (re)started edge that paid the
        # backend's first-run set-up on its first frames would miss their deadlines.
        t0 = time.monotonic()
        took = self.runner.warm_up()
        self.get_logger().info(
            f'warmed up in {(time.monotonic() - t0) * 1e3:.0f} ms ('
            + ', '.join(f'{part} {ms:.1f} ms' for part, ms in took.items()) + ' once warm)')
        self.pub = self.create_publisher(
            Classification, 'classification', RESULT_QOS,
            qos_overriding_options=QOS_OVERRIDES)
        callback = self._on_bottleneck_with_info if HAS_MESSAGE_INFO else self._on_bottleneck
        # Copies: rclpy writes qos_overrides into the profile it is given.
        self.sub = self.create_subscription(
            Bottleneck, 'bottleneck', callback, copy(NEWEST_FRAME_QOS),
            qos_overriding_options=QOS_OVERRIDES)
        reliable = [self.sub.qos_profile.reliability == ReliabilityPolicy.RELIABLE]
        if self.runner.accept_offload:
            callback = self._on_image_with_info if HAS_MESSAGE_INFO else self._on_image
            self.image_sub = self.create_subscription(
                CompressedImage, 'image_raw/compressed', callback, copy(NEWEST_FRAME_QOS),
                qos_overriding_options=QOS_OVERRIDES)
            reliable.append(self.image_sub.qos_profile.reliability == ReliabilityPolicy.RELIABLE)
        # One count of gaps for both topics: replacements only if neither may lose frames.
        self._gaps_are_replacements = all(reliable)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.diag_timer = self.create_timer(float(p['diagnostics_period_s']),
                                            self._publish_diagnostics)
        info = self.runner.info
        self.get_logger().info(
            f'serving model {info.model} split {info.split} on {self.runner.engine.backend} ('
            + (f'tail {info.tail_params:,} params, ' if info.tail_params else '') +
            f'head fingerprint {self.runner.head_fingerprint})')

    def _release(self) -> None:
        """Destroy the subscription, publishers and timer; drop the model."""
        self._destroy_entities(self.diag_timer, self.sub, self.image_sub, self.pub,
                               self.diag_pub)
        self.diag_timer = self.sub = self.image_sub = self.pub = self.diag_pub = None
        self.runner = None

    # -- frames ------------------------------------------------------------
    def _on_bottleneck_with_info(self, msg: Bottleneck, info: dict) -> None:
        self._on_bottleneck(msg, sample_source(info))

    def _on_bottleneck(self, msg: Bottleneck, source: tuple[bytes, int] | None = None) -> None:
        """Serve one bottleneck frame. ``source`` is its publisher's GID and the
        DDS sequence number of this sample (which the message cannot forge), where
        rclpy gives them; otherwise frames are told apart by frame_id and model
        and numbered by their ``seq``."""
        if source is None:
            source = ((msg.header.frame_id[:MAX_FRAME_ID_CHARS], msg.model[:64]), msg.seq + 1)
        if not self._arrived(source, msg.seq, msg.header.frame_id):
            return

        def serve() -> EdgeOutput:
            self.runner.check(model=msg.model, split=msg.split,
                              head_fingerprint=msg.head_fingerprint, codec=msg.codec,
                              dtype=msg.dtype, frame_id=msg.header.frame_id)
            return self.runner.process(encoded_from_msg(msg))
        self._serve(serve, header=msg.header, seq=msg.seq, mode='split', model=msg.model,
                    payload_bytes=len(msg.payload), robot=timings_from_msg(msg.timings))

    def _on_image_with_info(self, msg: CompressedImage, info: dict) -> None:
        self._on_image(msg, sample_source(info))

    def _on_image(self, msg: CompressedImage, source: tuple[bytes, int] | None = None) -> None:
        """Serve one JPEG (offload mode, or any camera's compressed stream). Its
        seq is the DDS sample number - 1 where rclpy gives it, else a count per
        frame_id (which shows no gaps: missed frames are then not counted)."""
        frame_id = msg.header.frame_id
        if source is not None:
            seq = source[1] - 1
        else:
            key = frame_id[:MAX_FRAME_ID_CHARS]
            seq = self._image_counts.pop(key, -1) + 1
            self._image_counts[key] = seq
            if len(self._image_counts) > MAX_COUNTED_FRAME_IDS:
                self._image_counts.popitem(last=False)
        if not self._arrived(source, seq, frame_id):
            return
        data, fmt = jpeg_from_msg(msg)
        self._serve(lambda: self.runner.process_jpeg(data, fmt=fmt, frame_id=frame_id),
                    header=msg.header, seq=seq, mode='offload', model=self.runner.info.model,
                    payload_bytes=len(data), robot=StageTimes())

    def _arrived(self, source: tuple[object, int] | None, seq: int, frame_id: str) -> bool:
        """Count a frame's arrival and the frames its sample number shows missed
        (``source``: a publisher, or a stand-in key, and a number from 1; None:
        no number); whether to serve it (not while inactive)."""
        if source is not None:
            self.seq_gaps.update(*source, first=1)
        if self.seq_gaps.missed != self._gaps_counted:
            self._count_gaps(seq, frame_id)
        self.counters['seq_discontinuities'] = self.seq_gaps.discontinuities
        if not self.active:   # seen (so no gap later), not served
            self.counters['dropped_inactive'] += 1
            self.get_logger().info(f'inactive: frames are dropped '
                                   f'[dropped_inactive: {self.counters["dropped_inactive"]}]',
                                   throttle_duration_sec=5.0)
            return False
        self.counters['frames_in'] += 1
        return True

    def _count_gaps(self, seq: int, frame_id: str) -> None:
        """Split the frames that never reached a callback by reason (see the
        module docstring) and log when a count grows (throttled)."""
        gaps = self.seq_gaps
        self._gaps_counted = gaps.missed
        replaced = gaps.missed - gaps.unheard if self._gaps_are_replacements else 0
        missed = gaps.missed - replaced
        where = f'latest before seq={seq} from {safe_text(frame_id or "?")}'
        if missed != self.counters['frames_missed']:
            self.counters['frames_missed'] = missed
            self.get_logger().warning(
                f'{missed} frames missed so far (never reached this node\'s callback; '
                f'{where})', throttle_duration_sec=5.0)
        if replaced != self.counters['dropped_replaced']:
            self.counters['dropped_replaced'] = replaced
            self.get_logger().info(
                f'{replaced} frames replaced by newer ones before they could be served so '
                f'far (this node is slower than the frame rate; {where})',
                throttle_duration_sec=5.0)

    def _serve(self, work: Callable[[], EdgeOutput], *, header: Header, seq: int, mode: str,
               model: str, payload_bytes: int, robot: StageTimes) -> None:
        """Run ``work`` (checks, decode, network); publish its result, or count
        and log why the frame was refused. ``robot``: the robot's stage timings."""
        try:
            out = work()
        except MismatchError as exc:
            self._reject('rejected_mismatch', seq, header.frame_id, exc)
            return
        except UnknownCodecError as exc:
            self._reject('rejected_unknown_codec', seq, header.frame_id, exc)
            return
        except PayloadTooLargeError as exc:
            self._reject('rejected_too_large', seq, header.frame_id, exc)
            return
        except (CodecError, ValueError) as exc:
            self._reject('rejected_malformed', seq, header.frame_id, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bad frame must never stop the node
            self._reject('rejected_internal_error', seq, header.frame_id, exc)
            return
        robot.decode_ms, robot.tail_ms = out.timings.decode_ms, out.timings.tail_ms
        self.pub.publish(classification_msg(
            out.result, header=header, seq=seq, mode=mode, model=model,
            payload_bytes=payload_bytes, timings=robot))
        self.counters['frames_served'] += 1

    def _reject(self, key: str, seq: int, frame_id: str, exc: Exception) -> None:
        self.counters[key] += 1
        # In /diagnostics too, so the robot's monitor can say why (a mismatch is
        # otherwise visible only in this log, on another machine).
        self._last_rejection = (f'{key.removeprefix("rejected_")}: {safe_text(exc, 200)} '
                                f'(frame from {safe_text(frame_id or "?", 64)})')
        self.get_logger().warning(
            f'rejected frame seq={seq} from {safe_text(frame_id or "?")} '
            f'({key.removeprefix("rejected_")}): {safe_text(exc, 300)} '
            f'[{self.counters[key]} so far]',
            throttle_duration_sec=1.0)

    def _publish_diagnostics(self) -> None:
        rejected = sum(self.counters[k] for k in REJECT_KEYS)
        self.diag_pub.publish(self.counters.status(
            self, f'{self.counters["frames_served"]} served, {rejected} rejected, '
            f'{self.counters["dropped_replaced"]} replaced by newer'
            + ('' if self.active else ' (inactive)'),
            warn_keys=(*REJECT_KEYS, 'frames_missed'),
            extra={'last_rejection': self._last_rejection}))


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run bottlefit_ros edge_node``."""
    return run(EdgeNode, args)
