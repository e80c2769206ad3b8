"""Edge-side node: ``bottleneck`` in, validate + decode + tail, ``classification`` out.

Every malformed or mismatched frame (truncated payload, wrong shape or dtype,
unknown codec, non-finite scale, declared size over the limit, another head's
fingerprint, another model or split) is rejected with a log line and counted
per reason in ``/diagnostics``; the node keeps serving.
"""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos_overriding_options import QoSOverridingOptions

from bottlefit_ros.codec import CodecError, PayloadTooLargeError, UnknownCodecError
from bottlefit_ros.conversions import classification_msg, encoded_from_msg, timings_from_msg
from bottlefit_ros.msg import Bottleneck, Classification
from bottlefit_ros.nodes._common import (COMPUTE_PARAMS, FRAME_QOS, MODEL_PARAMS, RESULT_QOS,
                                        Counters, Param, declare, model_spec,
                                        reject_read_only_and_invalid, run)
from bottlefit_ros.runtime import JPEG_CODEC, EdgeRunner, MismatchError, set_torch_threads

PARAMS = (
    *MODEL_PARAMS,
    Param('accept_offload', True, 'also serve offload-mode (JPEG) frames with the whole model'),
    Param('max_payload_bytes', 16 * 2**20, 'largest payload accepted, and largest size a '
          'payload may decompress to', min=1, max=2**31 - 1),
    Param('top_k', 5, 'classes per result', min=1, max=100),
    *COMPUTE_PARAMS,
)

REJECT_KEYS = ('rejected_mismatch', 'rejected_malformed', 'rejected_unknown_codec',
               'rejected_too_large', 'rejected_internal_error')


class EdgeNode(Node):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__('edge_node')
        p = declare(self, PARAMS)
        self.add_on_set_parameters_callback(reject_read_only_and_invalid(PARAMS))
        set_torch_threads(int(p['num_threads']))
        self.runner = EdgeRunner(model_spec(p), max_payload_bytes=int(p['max_payload_bytes']),
                                 top_k=int(p['top_k']), device=str(p['device']),
                                 accept_offload=bool(p['accept_offload']))
        self.counters = Counters(frames_in=0, frames_served=0, **{k: 0 for k in REJECT_KEYS})
        overrides = QoSOverridingOptions.with_default_policies()
        self.pub = self.create_publisher(Classification, 'classification', RESULT_QOS,
                                         qos_overriding_options=overrides)
        self.create_subscription(Bottleneck, 'bottleneck', self._on_bottleneck, FRAME_QOS,
                                 qos_overriding_options=overrides)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(float(p['diagnostics_period_s']), self._publish_diagnostics)
        info = self.runner.info
        self.get_logger().info(
            f'serving model {info.model} split {info.split} (tail {info.tail_params:,} params, '
            f'head fingerprint {self.runner.head_fingerprint})')

    def _on_bottleneck(self, msg: Bottleneck) -> None:
        self.counters['frames_in'] += 1
        try:
            self.runner.check(model=msg.model, split=msg.split,
                              head_fingerprint=msg.head_fingerprint, codec=msg.codec)
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

    def _reject(self, key: str, msg: Bottleneck, exc: Exception) -> None:
        self.counters[key] += 1
        self.get_logger().warning(
            f'rejected frame seq={msg.seq} from {msg.header.frame_id or "?"} '
            f'({key.removeprefix("rejected_")}): {exc} [{self.counters[key]} so far]',
            throttle_duration_sec=1.0)

    def _publish_diagnostics(self) -> None:
        rejected = sum(self.counters[k] for k in REJECT_KEYS)
        self.diag_pub.publish(self.counters.status(
            self, f'{self.counters["frames_served"]} served, {rejected} rejected',
            warn_keys=REJECT_KEYS))


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run bottlefit_ros edge_node``."""
    return run(EdgeNode, args)
