"""Robot-side monitor: per-frame end-to-end latency on the robot's clock,
per-stage breakdown, bytes and energy per frame; CSV log, periodic summary,
``/diagnostics`` status, and a summary (log + JSON file) at shutdown.

Run it on the robot, beside the camera node: the capture stamp and the
result's arrival are then read from the same clock.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.time import Time

from bottlefit_ros.energy import READER_KINDS, FrameEnergyMeter, PowerReaderError
from bottlefit_ros.conversions import frame_metrics_msg
from bottlefit_ros.framelog import CsvFrameLog, FrameLog, McapFrameLog
from bottlefit_ros.metrics import FrameRecord, format_summary_table, frames_lost, summarize
from bottlefit_ros.msg import Classification, FrameMetrics
from bottlefit_ros.nodes._common import Counters, Param, declare, reject_read_only_and_invalid, run

PARAMS = (
    Param('csv_path', '', 'per-frame CSV log; empty = none'),
    Param('mcap_path', '', 'per-frame MCAP log (FrameMetrics on /frame_metrics, readable by '
          'ros2 bag and Foxglove); empty = none'),
    Param('summary_path', '', 'JSON summary written at shutdown; empty = none'),
    Param('power_reader', 'auto', 'robot power sensor; auto probes Jetson INA3221, Raspberry '
          'Pi 5 PMIC, INA2xx hwmon, Intel RAPL, battery, then falls back to the estimate',
          choices=READER_KINDS),
    Param('power_profile', '', 'per-device power profile for the ESTIMATE when no sensor is '
          'used (bottlefit_ros/energy/power_profiles.yaml); empty = guess from the device'),
    Param('power_sample_rate_hz', 100.0, 'power sensor sampling rate', min=1.0, max=10000.0),
    Param('summary_period_s', 10.0, 'period of the summary log line and /diagnostics '
          '(run totals, and rate, latency, bytes and energy over the last period)',
          min=0.1, max=3600.0),
    Param('max_frames', 0, 'shut down after this many results (bounded runs); 0 = never',
          min=0, max=2**31 - 1),
)


class MonitorNode(Node):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__('monitor_node')
        p = declare(self, PARAMS)
        self.add_on_set_parameters_callback(reject_read_only_and_invalid(PARAMS))
        profile = str(p['power_profile']) or None
        try:
            self.energy = FrameEnergyMeter(str(p['power_reader']), profile=profile,
                                           rate_hz=float(p['power_sample_rate_hz']))
        except PowerReaderError as exc:
            self.get_logger().error(f'power_reader {p["power_reader"]!r} unusable, using the '
                                    f'estimate instead: {exc}')
            self.energy = FrameEnergyMeter('estimate', profile=profile)
        self.energy.start()
        self.max_frames = int(p['max_frames'])
        self.summary_path = str(p['summary_path'])
        self.records: list[FrameRecord] = []
        self._seqs: set[int] = set()
        self._highest_seq = -1
        self._period_first, self._period_start = 0, time.monotonic()
        self.counters = Counters(results=0, results_rejected=0, results_before_start=0)
        self.logs: list[FrameLog] = []
        for key, log_class in (('csv_path', CsvFrameLog), ('mcap_path', McapFrameLog)):
            if p[key]:
                try:
                    self.logs.append(log_class(os.path.expanduser(str(p[key]))))
                except OSError as exc:
                    self.get_logger().error(f'cannot open {key} {p[key]!r}, not logging '
                                            f'there: {exc}')
        self.metrics_pub = self.create_publisher(FrameMetrics, 'frame_metrics', 50)
        # Transient-local: results the edge published before this subscription
        # matched it (start-up discovery) still arrive; see RESULT_QOS.
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.start_ns = self.get_clock().now().nanoseconds
        self.create_subscription(Classification, 'classification', self._on_result, qos,
                                 qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(float(p['summary_period_s']), self._periodic)
        self.get_logger().info(f'monitoring {self.resolve_topic_name("classification")}; '
                               f'energy {self.energy.describe()}')
        self.get_logger().debug(f'power reader: {self.energy.details()}')

    def _on_result(self, msg: Classification) -> None:
        arrival_ns = self.get_clock().now().nanoseconds
        stamp_ns = Time.from_msg(msg.header.stamp).nanoseconds
        if stamp_ns < self.start_ns:
            # History replayed to a late-joining monitor: its latency says
            # nothing about the pipeline, so it is counted, not measured.
            self.counters['results_before_start'] += 1
            self.get_logger().warning(
                f'result seq={msg.seq} was captured {(self.start_ns - stamp_ns) / 1e9:.3f} s '
                'before this monitor started; not measured '
                '(history replayed to a late-joining monitor, or the camera\'s clock is behind '
                'this host\'s)', throttle_duration_sec=5.0)
            return
        if not (msg.class_ids and msg.labels and msg.scores):
            self.counters['results_rejected'] += 1
            self.get_logger().warning(f'result seq={msg.seq} has no classes; ignored',
                                      throttle_duration_sec=5.0)
            return
        t = msg.timings
        rec = FrameRecord(
            seq=int(msg.seq), mode=msg.mode, model=msg.model, stamp_ns=stamp_ns,
            arrival_ns=arrival_ns, preprocess_ms=t.preprocess_ms, head_ms=t.head_ms,
            encode_ms=t.encode_ms, decode_ms=t.decode_ms, tail_ms=t.tail_ms,
            payload_bytes=int(msg.payload_bytes), top1_id=int(msg.class_ids[0]),
            top1_label=msg.labels[0], top1_score=float(msg.scores[0]))
        energy = self.energy.frame(e2e_ms=rec.e2e_ms, robot_compute_ms=rec.robot_compute_ms,
                                   payload_bytes=rec.payload_bytes)
        rec.energy_j, rec.energy_measured, rec.energy_method = (
            energy.total.energy_j, energy.total.measured, energy.total.method)
        rec.energy_compute_j = energy.compute_j
        self.records.append(rec)
        self._seqs.add(rec.seq)
        self._highest_seq = max(self._highest_seq, rec.seq)
        self.counters['results'] += 1
        for log in self.logs:
            log.write(rec)
        self.metrics_pub.publish(frame_metrics_msg(rec))
        if 0 < self.max_frames <= len(self.records):
            self.get_logger().info(f'{len(self.records)} results received (max_frames)')
            raise SystemExit(0)

    def _periodic(self) -> None:
        """Log line and /diagnostics: totals for the run, rates and latencies for
        the frames of the last period only, so the cost stays flat however long
        the run (the whole run is summarized once, at shutdown)."""
        for log in self.logs:
            log.flush()
        now = time.monotonic()
        window = self.records[self._period_first:]
        elapsed_s, self._period_first, self._period_start = (
            now - self._period_start, len(self.records), now)
        s = summarize(window)
        lost = frames_lost(len(self._seqs), self._highest_seq) if self._seqs else 0
        fps = len(window) / elapsed_s if elapsed_s > 0 else float('nan')
        e2e = s.latency_ms.get('e2e_ms', {})
        energy = 'measured' if s.energy_measured else 'estimated'
        self.get_logger().info(
            f'{len(self.records)} frames, {lost} lost; last {elapsed_s:.1f} s: {fps:.1f} fps, '
            f'e2e p50 {e2e.get("p50", float("nan")):.1f} ms, {s.bytes_per_frame:,.0f} B/frame, '
            f'{s.energy_j_per_frame:.3f} J/frame ({energy})')
        self.diag_pub.publish(self.counters.status(
            self, f'{len(self.records)} frames', warn_keys=('results_rejected',),
            extra={'frames_lost': str(lost),
                   'period_frames': str(len(window)), 'period_s': f'{elapsed_s:.2f}',
                   'e2e_p50_ms': f'{e2e.get("p50", float("nan")):.2f}',
                   'e2e_p95_ms': f'{e2e.get("p95", float("nan")):.2f}',
                   'fps': f'{fps:.2f}', 'bytes_per_frame': f'{s.bytes_per_frame:.0f}',
                   'energy_j_per_frame': f'{s.energy_j_per_frame:.4f}',
                   'energy': energy}))

    def close(self) -> None:
        """Stop power sampling, write the summary (log + JSON), close the logs."""
        self.energy.stop()
        s = summarize(self.records)
        self.get_logger().info('summary\n' + format_summary_table(s))
        if self.summary_path:
            path = Path(os.path.expanduser(self.summary_path))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(s.to_json())
        for log in self.logs:
            log.close()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run bottlefit_ros monitor_node``."""
    return run(MonitorNode, args)
