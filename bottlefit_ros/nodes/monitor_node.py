"""Robot-side monitor: per-frame end-to-end latency on the robot's clock,
per-stage breakdown, bytes and energy per frame; CSV log, periodic summary,
``/diagnostics`` status, and a summary (log + JSON file) at shutdown.

Run it on the robot, beside the camera node: the capture stamp and the
result's arrival are then read from the same clock.

What arrives is not trusted. Each result is counted once in ``results_in`` and
then in exactly one of:

- ``results``: measured (latency, bytes, energy; logged and published);
- ``results_rejected``: a field is implausible (an invalid stamp, no classes,
  scores outside [0, 1] or NaN, negative, NaN or over-a-minute stage timings,
  ``payload_bytes`` over ``max_payload_bytes``, an unknown mode, over-long
  names); ``rejected_<reason>`` says which;
- ``results_future_stamp``: stamped later than its arrival on this clock (a
  camera whose clock runs ahead): a latency would be negative, so nothing is
  measured and a warning gives the offset;
- ``results_before_start``: captured before this monitor started (history
  replayed to a late-joining monitor): counted, not measured;
- ``results_duplicate`` / ``results_seq_stale`` / ``results_seq_jump``: a frame
  already answered (results are told apart by frame, its capture stamp and
  ``frame_id``, as the camera matches them: a late edge result after the
  camera's fallback is a duplicate), too old to tell from one, or a seq that
  jumps out of its numbering, not yet confirmed by the next result (see
  :class:`~bottlefit_ros.metrics.FrameAccount`): not measured.

Frames lost are the frames the camera sent minus the distinct frames answered
(every result with a valid stamp that is no duplicate, measured or not), from
the ``frames_sent`` counter in the /diagnostics status of ``camera_node`` in
this monitor's namespace, once it is ``TAIL_GRACE_S`` old (frames still in
flight do not count), and the answers captured by the time of that status: so
they are right in every mode, mixed ones included (the deadline's fallback, the
adaptive policy, a mode switch), where ``seq`` is the camera's number in some
results and the edge's in others (``offload``). A count that goes back (the
camera restarted) starts a new one. Without the camera's status they come from
the gaps in the seqs: the edge's numbers of ``offload`` results, and the
camera's numbers of the others while no ``offload`` result came; a camera
restart (``seq_restarts``) starts a new count, a forged seq adds no losses.
Why they were lost comes from the edge's
/diagnostics counters (``EDGE_DROP_KEYS``: replaced by a newer frame, missed,
dropped while inactive, rejected): the status and the summary give each, and
``frames_lost_uncounted``, the losses no counter explains.

With a deadline on the camera (its ``deadline_ms``), results may also come
from the camera itself with mode ``fallback``; the camera's frame account
(``answered_edge``, ``answered_fallback``, ``answered_local``, ``dropped_*``,
``in_flight``, ``late_results``, ``mode_switches``, see
:mod:`bottlefit_ros.inflight`) is read from the same status and shown in the
periodic line, in ``/diagnostics`` (prefixed ``camera_``) and in the JSON
summary (``camera_account``).

Totals and percentiles for the whole run are kept in bounded memory
(:class:`~bottlefit_ros.metrics.RunningSummary`), whatever the run's length.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from collections import deque
from copy import copy
from pathlib import Path
from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

from bottlefit_ros.deployment import RESULT_MODES
from bottlefit_ros.energy import READER_KINDS, FrameEnergyMeter, PowerReaderError
from bottlefit_ros.conversions import frame_metrics_msg
from bottlefit_ros.framelog import CsvFrameLog, FrameLog, McapFrameLog
from bottlefit_ros.inflight import describe_account, read_account
from bottlefit_ros.metrics import (REJECT_REASONS, FrameAccount, FrameRecord, RunningSummary,
                                   Summary, format_summary_table, result_problem, stamp_to_ns)
from bottlefit_ros.msg import Classification, FrameMetrics
from bottlefit_ros.nodes._common import (POWER_PROFILE_PARAM, Counters, Param, declare,
                                        reject_read_only_and_invalid, run, safe_text)

PARAMS = (
    Param('csv_path', '', 'per-frame CSV log; empty = none'),
    Param('mcap_path', '', 'per-frame MCAP log (FrameMetrics on /frame_metrics, readable by '
          'ros2 bag and Foxglove); empty = none'),
    Param('summary_path', '', 'JSON summary written at shutdown; empty = none'),
    Param('power_reader', 'auto', 'robot power sensor; auto probes Jetson INA3221, Raspberry '
          'Pi 5 PMIC, INA2xx hwmon, Intel RAPL, battery, then falls back to the estimate',
          choices=READER_KINDS),
    POWER_PROFILE_PARAM,
    Param('power_sample_rate_hz', 100.0, 'power sensor sampling rate', min=1.0, max=10000.0),
    Param('summary_period_s', 10.0, 'period of the summary log line and /diagnostics '
          '(run totals, and rate, latency, bytes and energy over the last period)',
          min=0.1, max=3600.0),
    Param('max_frames', 0, 'shut down after this many results (bounded runs); 0 = never',
          min=0, max=2**31 - 1),
    Param('max_payload_bytes', 16 * 2**20, 'results claiming a larger payload are rejected '
          '(the edge node\'s limit of the same name)', min=1, max=2**31 - 1),
)

# Every result lands in exactly one of these (results_in counts them all).
OUTCOME_KEYS = ('results', 'results_rejected', 'results_future_stamp', 'results_before_start',
                'results_duplicate', 'results_seq_stale', 'results_seq_jump')
# /diagnostics level WARN once any of these counts.
WARN_KEYS = ('results_rejected', 'results_future_stamp', 'log_errors', 'edge_rejected')
WARN_INTERVAL_S = 5.0   # at most one warning per reason in this time
CAMERA_NODE = 'camera_node'   # the camera beside this monitor, in its namespace
EDGE_NODE = 'edge_node'       # the edge serving it, in the same namespace
TAIL_GRACE_S = 1.0      # a camera's frames_sent counts for losses once this old
# The edge's counters of frames it did not answer (edge_node.py), by reason.
EDGE_DROP_KEYS = ('dropped_replaced', 'frames_missed', 'dropped_inactive')
# Results: transient-local, so results the edge published before this subscription
# matched it (start-up discovery) still arrive; see RESULT_QOS.
MONITOR_RESULT_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.TRANSIENT_LOCAL)
# FrameAccount outcomes that are counted, not measured: counter, and why (for the log).
_UNMEASURED = {
    FrameAccount.DUPLICATE: ('results_duplicate', 'was already delivered (a duplicate)'),
    FrameAccount.STALE: ('results_seq_stale', 'is too old to tell from a duplicate'),
    FrameAccount.JUMP: ('results_seq_jump', 'jumps implausibly far ahead (forged or corrupt '
                      'seq?)'),
}


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
        self.max_payload_bytes = int(p['max_payload_bytes'])
        self.summary_path = str(p['summary_path'])
        self.run_stats = RunningSummary()                       # the whole run
        self.period_stats = RunningSummary(reservoir_size=2048)  # since the last status
        self._period_start, self._period_in = time.monotonic(), 0
        self._warned: dict[str, float] = {}     # reason -> when last logged (monotonic)
        self.counters = Counters(results_in=0, seq_restarts=0, log_errors=0,
                                 camera_diagnostics_rejected=0, edge_rejected=0,
                                 **{k: 0 for k in OUTCOME_KEYS},
                                 **{f'rejected_{r}': 0 for r in REJECT_REASONS})
        self.logs: list[FrameLog] = []
        for key, log_class in (('csv_path', CsvFrameLog), ('mcap_path', McapFrameLog)):
            if p[key]:
                try:
                    self.logs.append(log_class(os.path.expanduser(str(p[key]))))
                except OSError as exc:
                    self.get_logger().error(f'cannot open {key} {p[key]!r}, not logging '
                                            f'there: {exc}')
        self.metrics_pub = self.create_publisher(FrameMetrics, 'frame_metrics', 50)
        self.start_ns = self.get_clock().now().nanoseconds
        self.frames = FrameAccount(started_ns=self.start_ns)
        self.create_subscription(Classification, 'classification', self._on_result,
                                 copy(MONITOR_RESULT_QOS),
                                 qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._camera_name = f'{self.get_namespace().rstrip("/")}/{CAMERA_NODE}'
        self._edge_name = f'{self.get_namespace().rstrip("/")}/{EDGE_NODE}'
        self._edge_rejected = 0
        self._edge_drops: dict[str, int] = {}   # 'edge_<counter>' -> the edge's latest count
        # The camera's counts not yet given to self.frames: (monotonic, sent, stamp_ns).
        self._camera_sent: deque[tuple[float, int, int]] = deque(maxlen=64)
        self._camera_sent_latest: int | None = None
        self._camera_account: dict[str, int] = {}   # its frame outcomes (deadline_ms > 0)
        self._camera_mode = ''
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        self.create_timer(float(p['summary_period_s']), self._periodic)
        self.get_logger().info(f'monitoring {self.resolve_topic_name("classification")}; '
                               f'energy {self.energy.describe()}')
        self.get_logger().debug(f'power reader: {self.energy.details()}')

    def _on_result(self, msg: Classification) -> None:
        """Account for one result (see the module docstring); never raises: a result
        that breaks this code is counted as ``rejected_internal_error``."""
        self.counters['results_in'] += 1
        try:
            self._handle(msg)
        except Exception as exc:  # noqa: BLE001 - no result may stop the monitor
            self._reject(msg, 'internal_error', safe_text(f'{type(exc).__name__}: {exc}', 200))

    def _handle(self, msg: Classification) -> None:
        arrival_ns = self.get_clock().now().nanoseconds
        stamp = msg.header.stamp
        stamp_ns = stamp_to_ns(stamp.sec, stamp.nanosec)
        if stamp_ns is None:
            self._reject(msg, 'bad_stamp', f'invalid stamp (sec={stamp.sec}, '
                                           f'nanosec={stamp.nanosec})')
            return
        seq = int(msg.seq)
        outcome = self.frames.see(seq=seq, offload=msg.mode == 'offload', stamp_ns=stamp_ns,
                                  frame_id=msg.header.frame_id, arrival_ns=arrival_ns)
        if outcome in _UNMEASURED:
            key, why = _UNMEASURED[outcome]
            self.counters[key] += 1
            self._warn(key, f'result seq={seq} {why}; not measured [{self.counters[key]} so far]')
            return
        if outcome == FrameAccount.RESTART:
            self.counters['seq_restarts'] += 1
            self.get_logger().info(f'result seq={seq}: the camera restarted (seq went back or '
                                   'jumped, stamps went on); counting losses from here',
                                   throttle_duration_sec=5.0)
        t = msg.timings
        problem = result_problem(
            mode=msg.mode, model=msg.model, class_ids=msg.class_ids, labels=msg.labels,
            scores=msg.scores, payload_bytes=int(msg.payload_bytes),
            timings=(t.preprocess_ms, t.head_ms, t.encode_ms, t.decode_ms, t.tail_ms),
            modes=RESULT_MODES, max_payload_bytes=self.max_payload_bytes)
        if problem is not None:
            self._reject(msg, *problem)
            return
        if stamp_ns > arrival_ns:
            self.counters['results_future_stamp'] += 1
            self._warn('results_future_stamp', (
                f'result seq={seq} is stamped {(stamp_ns - arrival_ns) / 1e9:.3f} s after its '
                'arrival on this clock; not measured (the camera\'s clock is ahead of this '
                'host\'s: run the monitor beside the camera) '
                f'[{self.counters["results_future_stamp"]} so far]'))
            return
        if stamp_ns < self.start_ns:
            # History replayed to a late-joining monitor: its latency says
            # nothing about the pipeline, so it is counted, not measured.
            self.counters['results_before_start'] += 1
            self._warn('results_before_start', (
                f'result seq={seq} was captured {(self.start_ns - stamp_ns) / 1e9:.3f} s '
                'before this monitor started; not measured '
                '(history replayed to a late-joining monitor, or the camera\'s clock is behind '
                'this host\'s)'))
            return
        rec = FrameRecord(
            seq=seq, mode=msg.mode, model=msg.model, stamp_ns=stamp_ns,
            arrival_ns=arrival_ns, preprocess_ms=t.preprocess_ms, head_ms=t.head_ms,
            encode_ms=t.encode_ms, decode_ms=t.decode_ms, tail_ms=t.tail_ms,
            payload_bytes=int(msg.payload_bytes), top1_id=int(msg.class_ids[0]),
            top1_label=msg.labels[0], top1_score=float(msg.scores[0]))
        energy = self.energy.frame(e2e_ms=rec.e2e_ms, robot_compute_ms=rec.robot_compute_ms,
                                   payload_bytes=rec.payload_bytes)
        rec.energy_j, rec.energy_measured, rec.energy_method = (
            energy.total.energy_j, energy.total.measured, energy.total.method)
        rec.energy_compute_j = energy.compute_j
        for log in list(self.logs):
            self._use_log(log, log.write, rec)
        self.metrics_pub.publish(frame_metrics_msg(rec))
        self.run_stats.add(rec)
        self.period_stats.add(rec)
        self.counters['results'] += 1
        if 0 < self.max_frames <= len(self.run_stats):
            self.get_logger().info(f'{len(self.run_stats)} results received (max_frames)')
            raise SystemExit(0)

    def _on_diagnostics(self, arr: DiagnosticArray) -> None:
        """Keep the ``frames_sent`` the camera beside this monitor reports, and say
        on the robot why the edge rejects frames; never raises."""
        try:
            received_ns = self.get_clock().now().nanoseconds
            stamp_ns = stamp_to_ns(arr.header.stamp.sec, arr.header.stamp.nanosec)
            # The camera counted its frames by then: its clock or, when that is
            # ahead, this one (answers are timed no later than their arrival).
            counted_ns = received_ns if not stamp_ns else min(stamp_ns, received_ns)
            for st in arr.status:
                if st.name == self._edge_name:
                    self._edge_status(st)
                if st.name != self._camera_name:
                    continue
                for kv in st.values:
                    if kv.key == 'frames_sent':
                        sent = int(kv.value)
                        if not 0 <= sent < 2**63:
                            raise ValueError('frames_sent out of range')
                        self._camera_sent.append((time.monotonic(), sent, counted_ns))
                        self._camera_sent_latest = sent
                values = {kv.key: kv.value for kv in st.values}
                self._camera_account = read_account(values) or self._camera_account
                mode = st.message.partition(':')[0]     # "split: 12 frames sent, ..."
                self._camera_mode = mode if mode in RESULT_MODES else ''
        except Exception as exc:  # noqa: BLE001 - no status may stop the monitor
            self.counters['camera_diagnostics_rejected'] += 1
            self._warn('camera_diagnostics', f'unreadable status of {self._camera_name} on '
                       f'/diagnostics, ignored: {safe_text(exc)}')

    def _edge_status(self, st) -> None:
        """Warn (throttled) when the edge's rejections grow, with its last reason: a
        model or weights mismatch otherwise shows only in the edge's own log."""
        values = {kv.key: kv.value for kv in st.values}
        rejected = sum(int(v) for k, v in values.items()
                       if k.startswith('rejected_') and v.isdigit())
        drops = {f'edge_{k}': int(values[k]) for k in EDGE_DROP_KEYS
                 if values.get(k, '').isdigit()}
        self._edge_drops = {**drops, 'edge_rejected': rejected}
        if rejected > self._edge_rejected:
            self.counters['edge_rejected'] = rejected
            self._warn('edge_rejected', f'{self._edge_name} rejected {rejected} frames so far; '
                       f'last: {safe_text(values.get("last_rejection", "?"), 300)}')
        self._edge_rejected = rejected

    def frames_lost(self) -> int:
        """Frames lost in the run (:attr:`FrameAccount.lost`), with the camera's
        counts of frames sent once they are :data:`TAIL_GRACE_S` old."""
        now = time.monotonic()
        while self._camera_sent and now - self._camera_sent[0][0] >= TAIL_GRACE_S:
            _, sent, counted_ns = self._camera_sent.popleft()
            self.frames.camera_sent(sent, counted_ns)
        return self.frames.lost

    def lost_by_reason(self, lost: int) -> tuple[dict[str, int], int]:
        """The edge's counts of frames it did not answer, by reason, and the
        part of ``lost`` they do not explain (never below 0)."""
        drops = dict(self._edge_drops)
        return drops, max(0, lost - sum(drops.values()))

    def _reject(self, msg: Classification, reason: str, why: str) -> None:
        self.counters['results_rejected'] += 1
        self.counters[f'rejected_{reason}'] += 1
        self._warn(reason, f'rejected result seq={msg.seq} from '
                   f'{safe_text(msg.header.frame_id) or "?"} ({reason}): {why} '
                   f'[{self.counters[f"rejected_{reason}"]} so far]')

    def _warn(self, key: str, text: str) -> None:
        """Log ``text`` unless a warning of ``key`` was logged in the last
        :data:`WARN_INTERVAL_S` (a throttle per reason: one flood hides no other)."""
        now = time.monotonic()
        if now - self._warned.get(key, -math.inf) >= WARN_INTERVAL_S:
            self._warned[key] = now
            self.get_logger().warning(text)

    def _use_log(self, log: FrameLog, action: Callable[..., None], *args: object) -> None:
        """``action(*args)`` on a frame log; one that fails (disk full, file gone) is
        reported once and dropped, and the monitor goes on without it."""
        try:
            action(*args)
        except (OSError, ValueError) as exc:
            self.counters['log_errors'] += 1
            self.logs.remove(log)
            self.get_logger().error(f'frame log {safe_text(log.path, 200)} failed, no longer '
                                    f'written: {safe_text(exc, 200)}')
            try:
                log.close()
            except (OSError, ValueError):
                pass

    def _periodic(self) -> None:
        """Log line and /diagnostics: totals for the run, rates and latencies for
        the frames of the last period only, so the cost stays flat however long
        the run (the whole run is summarized once, at shutdown)."""
        for log in list(self.logs):
            self._use_log(log, log.flush)
        now = time.monotonic()
        elapsed_s, self._period_start = now - self._period_start, now
        s = self.period_stats.summary()
        self.period_stats.clear()
        arrived = self.counters['results_in'] - self._period_in
        self._period_in = self.counters['results_in']
        frames, lost = len(self.run_stats), self.frames_lost()
        drops, uncounted = self.lost_by_reason(lost)
        fps = s.frames_delivered / elapsed_s if elapsed_s > 0 else float('nan')
        e2e = s.latency_ms.get('e2e_ms', {})
        energy = 'measured' if s.energy_measured else 'estimated'
        account = describe_account(self._camera_account)
        account = f'; {account} (mode {self._camera_mode or "?"})' if account else ''
        if s.frames_delivered:
            self.get_logger().info(
                f'{frames} frames, {lost} lost; last {elapsed_s:.1f} s: {fps:.1f} fps, '
                f'e2e p50 {e2e["p50"]:.1f} ms, {s.bytes_per_frame:,.0f} B/frame, '
                f'{s.energy_j_per_frame:.3f} J/frame ({energy}){account}')
        else:
            unmeasured = (f' ({arrived} arrived, none measurable: see /diagnostics)'
                          if arrived else '')
            self.get_logger().info(f'{frames} frames, {lost} lost; no results in the last '
                                   f'{elapsed_s:.1f} s{unmeasured}{account}')
        self.diag_pub.publish(self.counters.status(
            self, f'{frames} frames', warn_keys=WARN_KEYS,
            extra={'frames_lost': str(lost), 'frames_lost_uncounted': str(uncounted),
                   **{k: str(v) for k, v in drops.items()},
                   'camera_frames_sent': ('' if self._camera_sent_latest is None
                                          else str(self._camera_sent_latest)),
                   'period_frames': str(s.frames_delivered), 'period_s': f'{elapsed_s:.2f}',
                   'e2e_p50_ms': f'{e2e.get("p50", float("nan")):.2f}',
                   'e2e_p95_ms': f'{e2e.get("p95", float("nan")):.2f}',
                   'fps': f'{fps:.2f}', 'bytes_per_frame': f'{s.bytes_per_frame:.0f}',
                   'energy_j_per_frame': f'{s.energy_j_per_frame:.4f}',
                   'energy': energy, 'camera_mode': self._camera_mode,
                   **{f'camera_{k}': str(v) for k, v in self._camera_account.items()}}))

    def summary(self) -> Summary:
        """The whole run so far (bounded memory, see :class:`RunningSummary`)."""
        s = self.run_stats.summary(frames_lost=self.frames_lost())
        s.lost_by_reason, s.lost_uncounted = self.lost_by_reason(s.frames_lost)
        s.camera_account = dict(self._camera_account)
        return s

    def close(self) -> None:
        """Stop power sampling, write the summary (log + JSON), close the logs."""
        self.energy.stop()
        s = self.summary()
        shown = dataclasses.replace(s, model=safe_text(s.model),
                                    top_labels=[(safe_text(label, 40), n)
                                                for label, n in s.top_labels])
        self.get_logger().info('summary\n' + format_summary_table(shown))
        if self.summary_path:
            path = Path(os.path.expanduser(self.summary_path))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(s.to_json())
            except OSError as exc:
                self.get_logger().error(f'cannot write summary_path {safe_text(path, 200)}: '
                                        f'{safe_text(exc, 200)}')
        for log in list(self.logs):
            self._use_log(log, log.close)


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run bottlefit_ros monitor_node``."""
    return run(MonitorNode, args)
