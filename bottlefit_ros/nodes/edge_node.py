"""Edge-side node: ``bottleneck`` in, validate + decode + tail, ``classification`` out.

Every malformed or mismatched frame (truncated payload, wrong shape or dtype,
unknown codec, non-finite or overflowing scale, declared size over the limit,
over-long strings, corrupt JPEG, another head's fingerprint, another model or
split) is rejected with a log line (throttled; message strings escaped and
shortened) and counted per reason in ``/diagnostics``; the node keeps serving.
Frames that never reach the callback show as gaps in each publisher's DDS
sample numbers (or in ``seq`` where rclpy does not report them). The
subscription keeps only the newest frame (``NEWEST_FRAME_QOS``): a frame still
waiting when a newer one arrives is replaced, so an edge slower than the
frame rate serves the newest work instead of a backlog. Under the default
RELIABLE subscription DDS resends what the link loses, so such gaps are
counted as ``dropped_replaced``; gaps before a publisher's first frame here
(frames sent before this node heard it), and every gap under a BEST_EFFORT
override (where a loss and a replacement look alike), as ``frames_missed``.

Managed (lifecycle) node: parameters are declared at start; ``configure`` loads
the model and creates the subscription and publishers; ``activate`` serves
frames; while inactive, arriving frames are counted as ``dropped_inactive``
(not as missed, not served); ``cleanup`` and ``shutdown`` release the model.
With ``autostart`` (default) the node configures and activates itself; with
``autostart: false`` a lifecycle manager brings it up.
"""
from __future__ import annotations

from copy import copy

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import ReliabilityPolicy

from bottlefit_ros.codec import CodecError, PayloadTooLargeError, UnknownCodecError
from bottlefit_ros.conversions import classification_msg, encoded_from_msg, timings_from_msg
from bottlefit_ros.msg import Bottleneck, Classification
from bottlefit_ros.nodes._common import (COMPUTE_PARAMS, HAS_MESSAGE_INFO, LIFECYCLE_PARAMS,
                                        MODEL_PARAMS, NEWEST_FRAME_QOS, QOS_OVERRIDES,
                                        RESULT_QOS, Counters, ManagedNode, Param, model_spec,
                                        reject_read_only_and_invalid, run, safe_text,
                                        sample_source)
from bottlefit_ros.runtime import JPEG_CODEC, EdgeRunner, MismatchError, SeqGaps

PARAMS = (
    *MODEL_PARAMS,
    Param('accept_offload', True, 'also serve offload-mode (JPEG) frames with the whole model'),
    Param('max_payload_bytes', 16 * 2**20, 'largest payload accepted, and largest size a '
          'payload may decompress to', min=1, max=2**31 - 1),
    Param('top_k', 5, 'classes per result', min=1, max=100),
    *COMPUTE_PARAMS,
    *LIFECYCLE_PARAMS,
)

REJECT_KEYS = ('rejected_mismatch', 'rejected_malformed', 'rejected_unknown_codec',
               'rejected_too_large', 'rejected_internal_error')


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
        self.pub = self.diag_pub = self.diag_timer = self.sub = None
        self.start()

    # -- lifecycle ---------------------------------------------------------
    def _configure(self) -> None:
        """Load the model; create the subscription and the publishers."""
        p = self.params
        self.runner = EdgeRunner(model_spec(p), max_payload_bytes=int(p['max_payload_bytes']),
                                 top_k=int(p['top_k']), device=str(p['device']),
                                 accept_offload=bool(p['accept_offload']),
                                 backend=str(p['backend']), threads=int(p['num_threads']))
        self.pub = self.create_publisher(
            Classification, 'classification', RESULT_QOS,
            qos_overriding_options=QOS_OVERRIDES)
        callback = self._on_bottleneck_with_info if HAS_MESSAGE_INFO else self._on_bottleneck
        # A copy: rclpy writes qos_overrides into the profile it is given.
        self.sub = self.create_subscription(
            Bottleneck, 'bottleneck', callback, copy(NEWEST_FRAME_QOS),
            qos_overriding_options=QOS_OVERRIDES)
        self._gaps_are_replacements = (self.sub.qos_profile.reliability
                                       == ReliabilityPolicy.RELIABLE)
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
        self._destroy_entities(self.diag_timer, self.sub, self.pub, self.diag_pub)
        self.diag_timer = self.sub = self.pub = self.diag_pub = None
        self.runner = None

    # -- frames ------------------------------------------------------------
    def _on_bottleneck_with_info(self, msg: Bottleneck, info: dict) -> None:
        self._on_bottleneck(msg, sample_source(info))

    def _on_bottleneck(self, msg: Bottleneck, source: tuple[bytes, int] | None = None) -> None:
        """Serve one frame. ``source`` is its publisher's GID and the DDS
        sequence number of this sample (which the message cannot forge), where
        rclpy gives them; otherwise frames are told apart by frame_id and
        model and numbered by their ``seq``."""
        if source is not None:
            self.seq_gaps.update(*source, first=1)    # DDS numbers samples from 1
        else:
            self.seq_gaps.update((msg.header.frame_id[:256], msg.model[:64]), msg.seq)
        if self.seq_gaps.missed != self._gaps_counted:
            self._count_gaps(msg)
        self.counters['seq_discontinuities'] = self.seq_gaps.discontinuities
        if not self.active:   # seen (so no gap later), not served
            self.counters['dropped_inactive'] += 1
            self.get_logger().info(f'inactive: frames are dropped '
                                   f'[dropped_inactive: {self.counters["dropped_inactive"]}]',
                                   throttle_duration_sec=5.0)
            return
        self.counters['frames_in'] += 1
        try:
            self.runner.check(model=msg.model, split=msg.split,
                              head_fingerprint=msg.head_fingerprint, codec=msg.codec,
                              dtype=msg.dtype, frame_id=msg.header.frame_id)
            out = self.runner.process(encoded_from_msg(msg))
        except MismatchError as exc:
            self._reject('rejected_mismatch', msg, exc)
            return
        except UnknownCodecError as exc:
            self._reject('rejected_unknown_codec', msg, exc)
            return
        except PayloadTooLargeError as exc:
            self._reject('rejected_too_large', msg, exc)
            return
        except (CodecError, ValueError) as exc:
            self._reject('rejected_malformed', msg, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bad frame must never stop the node
            self._reject('rejected_internal_error', msg, exc)
            return
        timings = timings_from_msg(msg.timings)
        timings.decode_ms, timings.tail_ms = out.timings.decode_ms, out.timings.tail_ms
        mode = 'offload' if msg.codec == JPEG_CODEC else 'split'
        self.pub.publish(classification_msg(
            out.result, header=msg.header, seq=msg.seq, mode=mode, model=msg.model,
            payload_bytes=len(msg.payload), timings=timings))
        self.counters['frames_served'] += 1

    def _count_gaps(self, msg: Bottleneck) -> None:
        """Split the frames that never reached the callback by reason (see the
        module docstring) and log when a count grows (throttled)."""
        gaps = self.seq_gaps
        self._gaps_counted = gaps.missed
        replaced = gaps.missed - gaps.unheard if self._gaps_are_replacements else 0
        missed = gaps.missed - replaced
        where = f'latest before seq={msg.seq} from {safe_text(msg.header.frame_id or "?")}'
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

    def _reject(self, key: str, msg: Bottleneck, exc: Exception) -> None:
        self.counters[key] += 1
        # In /diagnostics too, so the robot's monitor can say why (a mismatch is
        # otherwise visible only in this log, on another machine).
        self._last_rejection = (f'{key.removeprefix("rejected_")}: {safe_text(exc, 200)} '
                                f'(frame from {safe_text(msg.header.frame_id or "?", 64)})')
        self.get_logger().warning(
            f'rejected frame seq={msg.seq} from {safe_text(msg.header.frame_id or "?")} '
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
